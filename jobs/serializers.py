"""The job status document, as `GET /jobs/{id}` answers it."""

from rest_framework import serializers

from jobs.models import BackgroundJob, JobStatus


class BackgroundJobSerializer(serializers.ModelSerializer):
    class Meta:
        model = BackgroundJob
        fields = [
            "job_id",
            "job_type",
            "status",
            "progress_percent",
            "processed_items",
            "total_items",
            "result_data",
            "error_message",
            "attempts",
            "created_at",
            "started_at",
            "completed_at",
        ]
        read_only_fields = fields


class JobListFilterSerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=JobStatus.choices, required=False)
    job_type = serializers.CharField(max_length=64, required=False)
