"""Request and response shapes for the semantic API."""

from django.conf import settings
from rest_framework import serializers


class RegenerateRequestSerializer(serializers.Serializer):
    only_stale = serializers.BooleanField(
        default=False, help_text="Embed only notes whose vector is missing or stale (default: all notes)."
    )


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(help_text="What to look for, in words.")
    limit = serializers.IntegerField(default=10, min_value=1)

    def validate_q(self, value):
        limit = settings.SEMANTIC_QUERY_MAX_LENGTH
        if len(value) > limit:
            raise serializers.ValidationError(f"The query is {len(value)} characters long; the limit is {limit}.")
        return value

    def validate_limit(self, value):
        most = settings.SEMANTIC_SEARCH_MAX_LIMIT
        if value > most:
            raise serializers.ValidationError(f"limit may be at most {most}.")
        return value


class SearchResultSerializer(serializers.Serializer):
    note_id = serializers.IntegerField()
    title = serializers.CharField()
    snippet = serializers.CharField()
    score = serializers.FloatField(help_text="Cosine similarity, -1 to 1.")


class SearchResponseSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    model = serializers.CharField(help_text="The embedding model that ranked the notes.")
    unindexed = serializers.IntegerField(help_text="Notes without a vector yet: not ranked.")
