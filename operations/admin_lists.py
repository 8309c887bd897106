"""Shared admin pieces: the read-only operator page, and what keeps the job list cheap on a large table.

Django's field filters list their choices with `SELECT DISTINCT` over the
whole table (a quarter second each at a million rows), and its paginator
counts every row; these take the choices from the code and, for the
unfiltered list on PostgreSQL, the planner's row estimate.
"""

from __future__ import annotations

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property

from common import queues

#: Below this many rows the exact count is cheap enough.
ESTIMATE_ABOVE = 100_000


class JobTypeFilter(admin.SimpleListFilter):
    title = "job type"
    parameter_name = "job_type"

    def lookups(self, request, model_admin):
        from jobs.registry import all_tasks

        return [(spec.job_type, spec.job_type) for spec in sorted(all_tasks(), key=lambda spec: spec.job_type)]

    def queryset(self, request, queryset):
        return queryset.filter(job_type=self.value()) if self.value() else queryset


class QueueFilter(admin.SimpleListFilter):
    title = "queue"
    parameter_name = "queue"

    def lookups(self, request, model_admin):
        return [(name, name) for name in queues.ALL]

    def queryset(self, request, queryset):
        return queryset.filter(queue=self.value()) if self.value() else queryset


class EstimatedCountPaginator(Paginator):
    """Exact counts, except the whole table on PostgreSQL past `ESTIMATE_ABOVE` rows: the planner's estimate."""

    @cached_property
    def count(self):
        queryset = self.object_list
        query = getattr(queryset, "query", None)
        if query is not None and not query.where and not query.distinct:
            connection = connections[queryset.db]
            if connection.vendor == "postgresql":
                with connection.cursor() as cursor:
                    cursor.execute(
                        "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                        [queryset.model._meta.db_table],
                    )
                    row = cursor.fetchone()
                if row and row[0] > ESTIMATE_ABOVE:
                    return int(row[0])
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """A list nobody adds to, edits or deletes from in the admin (audit trails, operator pages)."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class OperatorPageAdmin(ReadOnlyAdmin):
    """An operator page over a proxy model (job health, dashboard): staff who may view jobs see it; nothing to edit."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and request.user.has_perm("jobs.view_backgroundjob")
