"""Admin for note embeddings: inspect vectors' model and freshness, re-embed owners' notes."""

from django.contrib import admin, messages

from semantic.models import NoteEmbedding
from semantic.services import note_embeddings_regenerate_start


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
