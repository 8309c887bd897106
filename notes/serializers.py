"""Request and response shapes for notes."""

from rest_framework import serializers

from notes.models import NOTE_CONTENT_MAX_LENGTH, NOTE_TITLE_MAX_LENGTH, Note

#: Longest `search` accepted (characters).
NOTE_SEARCH_MAX_LENGTH = 500


class NoteSerializer(serializers.ModelSerializer):
    title = serializers.CharField(max_length=NOTE_TITLE_MAX_LENGTH)
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
