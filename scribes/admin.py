"""Admin for notes."""

from django.contrib import admin

from scribes.models import Note


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ["id", "title", "user", "created_at", "updated_at"]
    search_fields = ["title", "content", "user__username"]
    list_select_related = ["user"]
    raw_id_fields = ["user"]
