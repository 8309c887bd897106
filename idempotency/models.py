"""The record of a client's `Idempotency-Key`: the lock that lets a job-creating POST be sent twice safely."""

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models


class IdempotencyKey(models.Model):
    """A client's `Idempotency-Key` on a job-creating POST, and the response it got.

    The unique (user, key) pair is the lock: the first request inserts the row
    and runs; concurrent and later requests with the same key wait for its
    stored response and return it unchanged.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    endpoint = models.CharField(max_length=255)
    #: sha256 of method, path and body: a reused key with another request is refused.
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True, encoder=DjangoJSONEncoder)
    response_headers = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        # The table keeps the name it was created with (the model has moved between apps since).
        db_table = "scribes_idempotencykey"
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_user_key_unique")]

    def __str__(self):
        return f"{self.user_id}:{self.key}"
