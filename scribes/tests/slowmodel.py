"""Test-only entry point: `manage.py <command>` whose hashing embedder sleeps SLOW_EMBED_SECONDS per call.

A long regeneration without the real model: with one note per batch, N notes
take about N x SLOW_EMBED_SECONDS on the model worker. The patch is applied in
the worker's main process before it forks, so every work-horse inherits it;
nothing in the product reads SLOW_EMBED_SECONDS.
"""

import os
import sys
import time


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scribes.settings")
    from semantic import embedders

    delay = float(os.environ["SLOW_EMBED_SECONDS"])
    encode = embedders.HashingEmbedder.encode

    def slow_encode(self, texts):
        time.sleep(delay)
        return encode(self, texts)

    embedders.HashingEmbedder.encode = slow_encode
    from django.core.management import execute_from_command_line

    execute_from_command_line(["manage.py", *sys.argv[1:]])


if __name__ == "__main__":
    main()
