"""Request and response shapes for the semantic API."""

from django.conf import settings
from rest_framework import serializers

from semantic.hybrid import HYBRID, MODES


class RegenerateRequestSerializer(serializers.Serializer):
    only_stale = serializers.BooleanField(
        default=False, help_text="Embed only notes whose vector is missing or stale (default: all notes)."
    )


class SearchQuerySerializer(serializers.Serializer):
    q = serializers.CharField(help_text="What to look for, in words.")
    limit = serializers.IntegerField(default=10, min_value=1)
    mode = serializers.ChoiceField(
        choices=MODES,
        default=HYBRID,
        help_text="hybrid (default): keyword and meaning fused; semantic: by meaning; keyword: by words.",
    )

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
    snippet = serializers.CharField(help_text="Plain text around the best match.")
    highlight = serializers.CharField(help_text="The snippet HTML-escaped, matched words in <mark>.")
    score = serializers.FloatField(
        help_text="semantic: cosine similarity of the best chunk (-1 to 1); keyword: bm25 (SQLite) or ts_rank "
        "(PostgreSQL); hybrid: normalized cosine + 0.3 x normalized keyword score. Higher is better; "
        "compare within one response."
    )
    matched = serializers.ListField(
        child=serializers.ChoiceField(choices=["keyword", "semantic"]),
        help_text='"keyword": the note holds a query word or phrase; "semantic": among the nearest by meaning.',
    )


class SearchResponseSerializer(serializers.Serializer):
    results = SearchResultSerializer(many=True)
    model = serializers.CharField(help_text="The embedding model that ranked the notes.")
    unindexed = serializers.IntegerField(help_text="Notes without a vector yet: not ranked by meaning.")
    mode = serializers.CharField(help_text="The mode that ranked the results.")
