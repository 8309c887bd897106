"""Admin for notes, with each note's embedding state (model, fresh, stale or missing)."""

from django.contrib import admin
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from scribes.models import Note


class EmbeddingStateFilter(admin.SimpleListFilter):
    title = "embedding"
    parameter_name = "embedding"

    def lookups(self, request, model_admin):
        return [("missing", "missing"), ("present", "present")]

    def queryset(self, request, queryset):
        if self.value() == "missing":
            return queryset.filter(embedding__isnull=True)
        if self.value() == "present":
            return queryset.filter(embedding__isnull=False)
        return queryset


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "user", "embedding_state", "created_at", "updated_at"]
    list_filter = [EmbeddingStateFilter, "created_at"]
    search_fields = ["title", "content", "user__username"]
    list_select_related = ["user", "embedding"]
    raw_id_fields = ["user"]
    readonly_fields = ["created_at", "updated_at", "embedding_state"]

    @admin.display(description="embedding")
    def embedding_state(self, obj):
        """Fresh when computed by the active model from the note's current text."""
        from semantic.embedders import active_model_name
        from semantic.selectors import note_embedding_text, text_hash

        embedding = getattr(obj, "embedding", None)
        if embedding is None:
            return mark_safe('<span style="color:#ba2121">missing</span>')
        if embedding.model != active_model_name():
            reason = f"stale: model {embedding.model}"
        elif embedding.text_hash != text_hash(note_embedding_text(title=obj.title, content=obj.content)):
            reason = "stale: note edited"
        else:
            return format_html('<span style="color:#2e7d32">fresh</span> ({})', embedding.model)
        return format_html('<span style="color:#c77c02">{}</span>', reason)
