"""Create (or reset) the demo account that `make run` prints, for local development only."""

import os

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from scribes.services import user_token_issue


class Command(BaseCommand):
    help = "Create or reset the demo user (staff, for the admin) and print its credentials. DEBUG only."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            raise CommandError("Refusing to create a demo user with DEBUG off; create real accounts instead.")
        username = os.environ.get("DEMO_USERNAME", "demo")
        password = os.environ.get("DEMO_PASSWORD", "scribes-demo-password")
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
        user.is_staff = True
        user.is_superuser = True
        user.set_password(password)
        user.save()
        # The reset password above revoked the previous tokens.
        token, expires_at = user_token_issue(user=user)
        verb = "Created" if created else "Reset"
        self.stdout.write(self.style.SUCCESS(f"{verb} demo user: username={username} password={password}"))
        self.stdout.write(f"API token: Authorization: Bearer {token} (expires {expires_at:%Y-%m-%d})")
        self.stdout.write("Admin: http://127.0.0.1:8000/admin/   API docs: http://127.0.0.1:8000/docs")
