"""What other apps do when a note's text is written.

`notes` sits below the apps that react to its writes (semantic embeds a note
after it changes), so it cannot import them; they register a hook here from
their `AppConfig.ready()`, as Django's checks framework does.
"""

from __future__ import annotations

from collections.abc import Callable

_note_written_hooks: list[Callable[..., None]] = []


def register_note_written(hook: Callable[..., None]) -> None:
    """Call `hook(note=note)` inside the transaction of every create and text edit."""
    if hook not in _note_written_hooks:
        _note_written_hooks.append(hook)


def note_written(*, note) -> None:
    for hook in _note_written_hooks:
        hook(note=note)
