"""`Idempotency-Key` for job-creating POSTs: the record and the view decorator (`idempotency.decorators`)."""

from django.apps import AppConfig


class IdempotencyConfig(AppConfig):
    name = "idempotency"
    verbose_name = "Idempotency keys"
