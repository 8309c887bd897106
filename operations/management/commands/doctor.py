"""`doctor`: every check of the old troubleshooting guide, as OK/WARN/FAIL lines with a fix each."""

import json

from django.core.management.base import BaseCommand, CommandError

from common.diagnostics import FAIL, run_diagnostics


class Command(BaseCommand):
    help = (
        "Check Redis, the database, workers, the scheduler, RQ's keys and the job rows; print OK/WARN/FAIL "
        "with a fix for each. Exit code 1 when anything FAILs."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", help="Print the findings as a JSON list.")
        parser.add_argument(
            "--bundle",
            metavar="FILE",
            help="Also write a support bundle (tar.gz: findings, versions, masked settings, queues, "
            "workers, the last 50 failures) to FILE, to attach to a ticket.",
        )

    def handle(self, *args, **options):
        findings = run_diagnostics()
        failed = [finding for finding in findings if finding.level == FAIL]
        if options["json"]:
            self.stdout.write(json.dumps([finding.as_dict() for finding in findings], indent=2, default=str))
        else:
            styles = {"OK": self.style.SUCCESS, "WARN": self.style.WARNING, "FAIL": self.style.ERROR}
            for finding in findings:
                self.stdout.write(f"{styles[finding.level](finding.level):<4} {finding.name}: {finding.message}")
                if finding.fix and finding.level != "OK":
                    self.stdout.write(f"     fix: {finding.fix}")
        if options["bundle"]:
            from operations.bundle import support_bundle_write

            try:
                members = support_bundle_write(path=options["bundle"], findings=findings)
            except OSError as exc:
                raise CommandError(f"Could not write the bundle to {options['bundle']}: {exc}") from exc
            self.stderr.write(f"Support bundle written to {options['bundle']} ({', '.join(members)}).")
        if failed:
            raise CommandError(f"{len(failed)} check(s) failed: {', '.join(finding.name for finding in failed)}.")
