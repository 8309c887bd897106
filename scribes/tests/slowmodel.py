"""Test-only entry point: `manage.py <command>` whose hashing embedder sleeps SLOW_EMBED_SECONDS per call.

A long regeneration without the real model: with one note per batch, N notes
take about N x SLOW_EMBED_SECONDS on the model worker. With EMBED_LOG set, each
text encoded is appended to that file (its first line, one line per text), so a
test can count how often each note was embedded across processes. The patch is
applied in the worker's main process before it forks, so every work-horse
inherits it; nothing in the product reads these variables.
"""

import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
    from semantic import embedders

    delay = float(os.environ["SLOW_EMBED_SECONDS"])
    log = os.environ.get("EMBED_LOG")
    encode = embedders.HashingEmbedder.encode

    def slow_encode(self, texts):
        time.sleep(delay)
        if log:
            with open(log, "a") as fh:  # one write per call: O_APPEND keeps processes' lines whole
                fh.write("".join(text.splitlines()[0] + "\n" for text in texts))
        return encode(self, texts)

    embedders.HashingEmbedder.encode = slow_encode
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
