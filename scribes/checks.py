"""Project-wide checks: secrets that must not reach production."""

from django.conf import settings
from django.core.checks import Error, Tags, register

E001 = "scribes.E001"


@register(Tags.security)
def check_secret_key_not_dev_default(app_configs, **kwargs):
    from scribes.settings import DEV_SECRET_KEY

    if not settings.DEBUG and settings.SECRET_KEY == DEV_SECRET_KEY:
        return [
            Error(
                "SECRET_KEY is the development default while DEBUG is off.",
                hint="Set SECRET_KEY to a long random value in the environment "
                '(python -c "import secrets; print(secrets.token_urlsafe(50))").',
                id=E001,
            )
        ]
    return []
