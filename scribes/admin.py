"""API tokens in the admin: who holds one and until when, never anything that could be used as a key."""

from django.contrib import admin, messages
from django.utils import timezone
from knox.models import AuthToken

# knox's own admin lists the digest and can mint a token into a message; replace it.
if admin.site.is_registered(AuthToken):
    admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class AuthTokenAdmin(admin.ModelAdmin):
    list_display = ["user", "created", "expiry", "is_expired"]
    list_filter = ["created", "expiry"]
    search_fields = ["user__username"]
    fields = ["user", "created", "expiry"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(boolean=True, description="expired")
    def is_expired(self, obj):
        return obj.expiry is not None and obj.expiry < timezone.now()

    def has_add_permission(self, request):
        # A token is issued by logging in (POST /auth/token), shown once to its owner.
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.action(permissions=["delete"], description="Revoke selected tokens")
    def revoke(self, request, queryset):
        deleted, _ = queryset.delete()
        self.message_user(request, f"{deleted} token(s) revoked.", messages.SUCCESS)
