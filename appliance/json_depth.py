"""JSON request bodies with a bounded nesting depth, so ``[[[[…`` is a 400, never a RecursionError.

Every ``request.get_json`` in the app goes through ``app.json.loads``; this provider
refuses a document nested deeper than ``json_max_depth`` before the parser sees it
(``ValueError``, which Flask turns into a 400 in the contract's error shape, or into
``None`` for ``get_json(silent=True)``).
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Flask
from flask.json.provider import DefaultJSONProvider

# A string (skipped whole, escapes included) or a bracket; nothing else matters for depth.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"?|[\[\]{}]')


class JSONTooDeepError(ValueError):
    """A JSON document nested deeper than the box accepts."""


def json_depth_exceeds(text: str, limit: int) -> bool:
    """True if ``text`` opens more than ``limit`` arrays or objects inside one another.

    Stops at the first bracket past the limit, so the hostile case costs little; a
    document with few brackets is not scanned at all.
    """
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
            if depth > limit:
                return True
        elif token in "]}":
            depth -= 1
    return False


class BoundedJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than ``max_depth``."""

    def __init__(self, app: Flask, max_depth: int) -> None:
        super().__init__(app)
        self.max_depth = max_depth

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        text = s.decode(json.detect_encoding(s), "surrogatepass") if isinstance(s, bytes) else s
        if json_depth_exceeds(text, self.max_depth):
            raise JSONTooDeepError(f"JSON nested deeper than {self.max_depth} levels")
        try:
            return super().loads(text, **kwargs)
        except RecursionError as error:  # a backstop: the check above should make this unreachable
            raise JSONTooDeepError("JSON nested too deeply") from error
