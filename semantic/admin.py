"""Admin for note embeddings: inspect vectors' model and freshness, re-embed owners' notes.

It also adds each note's embedding state to the notes admin (notes knows nothing of embeddings).
"""

from django.contrib import admin, messages
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from notes.admin import NoteAdmin
from notes.models import Note
from semantic.embedders import active_model_name
from semantic.models import NoteEmbedding
from semantic.selectors import note_embedding_text, text_hash
from semantic.services import note_embeddings_regenerate_start


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


class NoteWithEmbeddingAdmin(NoteAdmin):
    list_display = [*NoteAdmin.list_display[:3], "embedding_state", *NoteAdmin.list_display[3:]]
    list_filter = [EmbeddingStateFilter, *NoteAdmin.list_filter]
    list_select_related = [*NoteAdmin.list_select_related, "embedding"]
    readonly_fields = [*NoteAdmin.readonly_fields, "embedding_state"]

    @admin.display(description="embedding")
    def embedding_state(self, obj):
        """Fresh when computed by the active model from the note's current text."""
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


admin.site.unregister(Note)
admin.site.register(Note, NoteWithEmbeddingAdmin)


@admin.register(NoteEmbedding)
class NoteEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["note_id", "note", "user", "model", "dimensions", "updated_at"]
    list_filter = ["model"]
    search_fields = ["note__title", "user__username"]
    list_select_related = ["note", "user"]
    date_hierarchy = "updated_at"
    readonly_fields = ["note", "user", "model", "dimensions", "text_hash", "updated_at", "vector_size"]
    exclude = ["vector"]
    actions = ["regenerate_for_owners"]

    @admin.display(description="vector bytes")
    def vector_size(self, obj):
        return len(obj.vector or b"")

    def has_add_permission(self, request):
        return False  # vectors are computed, never typed in

    def has_change_permission(self, request, obj=None):
        return False

    def has_regenerate_permission(self, request):
        # Vectors are read-only here, but re-embedding is a change to them.
        return request.user.has_perm("semantic.change_noteembedding")

    @admin.action(permissions=["regenerate"], description="Regenerate all embeddings of the selected notes' owners")
    def regenerate_for_owners(self, request, queryset):
        owners = {embedding.user for embedding in queryset.select_related("user").distinct()}
        started = 0
        for owner in owners:
            _, created = note_embeddings_regenerate_start(user=owner)
            started += created
        self.message_user(
            request,
            f"{started} regenerate job(s) started for {len(owners)} user(s); "
            f"{len(owners) - started} already had one queued or running.",
            messages.SUCCESS,
        )
