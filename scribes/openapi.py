"""drf-spectacular post-processing: document the error responses every endpoint can give.

Views document their success shapes; the 4xx/503 bodies come from one place
(`scribes.handlers`), so they are added here for every operation. The fuzz test
checks that each response matches the schema, so a missing code is a failure.
"""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """`Authorization: Bearer <token>` in the schema (drf-spectacular's knox extension matches knox's class only)."""

    target_class = "scribes.authentication.BearerTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(header_name="Authorization", token_prefix="Bearer")


ERROR_SCHEMA = {
    "type": "object",
    "description": "An error: `detail` says what was wrong; validation errors map field names to messages.",
    "properties": {"detail": {"type": "string"}},
    "additionalProperties": True,
}

COMMON_ERRORS = {
    "400": "Invalid input (malformed JSON, wrong types, out-of-range values).",
    "401": "Missing or invalid credentials.",
    "403": "Not allowed.",
    "404": "No such object (or it belongs to another user).",
    "405": "Method not allowed.",
    "406": "Not acceptable.",
    "415": "Unsupported media type.",
    "429": "Too many requests; retry after `Retry-After` seconds.",
    "503": "A dependency (database, Redis) is unavailable.",
}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for operation in methods.values():
            responses = operation.setdefault("responses", {})
            for code, description in COMMON_ERRORS.items():
                responses.setdefault(
                    code, {"description": description, "content": {"application/json": {"schema": reference}}}
                )
    return result
