"""Request and response shapes for notes."""

import unicodedata

from rest_framework import serializers

from notes.models import NOTE_CONTENT_MAX_LENGTH, NOTE_TITLE_MAX_LENGTH, Note

#: Longest `search` accepted (characters).
NOTE_SEARCH_MAX_LENGTH = 500


def refuse_control_characters(value: str) -> str:
    """A title is one line: CR, LF, tabs and other control characters would break the reminder
    email's Subject header (BadHeaderError on every attempt, so the reminder is never delivered)."""
    bad = sorted({f"U+{ord(ch):04X}" for ch in value if unicodedata.category(ch) in ("Cc", "Zl", "Zp")})
    if bad:
        raise serializers.ValidationError(
            f"A title is one line of text; remove the control characters ({', '.join(bad)})."
        )
    return value


class NoteSerializer(serializers.ModelSerializer):
    title = serializers.CharField(max_length=NOTE_TITLE_MAX_LENGTH, validators=[refuse_control_characters])
    content = serializers.CharField(
        max_length=NOTE_CONTENT_MAX_LENGTH,
        allow_blank=True,
        required=False,
        trim_whitespace=False,
    )

    class Meta:
        model = Note
        fields = ["id", "title", "content", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]


class NoteSearchParamsSerializer(serializers.Serializer):
    search = serializers.CharField(max_length=NOTE_SEARCH_MAX_LENGTH, help_text="Web-search syntax.")
