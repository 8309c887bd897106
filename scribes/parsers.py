"""The API's JSON parser: nesting too deep for a note or a reminder is a 400, never a RecursionError."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

#: No request body of this API nests deeper than a few levels; this leaves room and
#: stays far below Python's recursion limit for everything that walks the data later.
MAX_JSON_DEPTH = 32


def _depth_exceeds(data, limit: int) -> bool:
    stack = [(data, 1)]
    while stack:  # iterative: the check itself must not recurse
        value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > limit:
                return True
            children = value.values() if isinstance(value, dict) else value
            stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.")
        return data
