"""The search cursor: an opaque token naming where the next page starts.

Both engines wrap their own position (DuckDB: the sort value, table and row id; a cluster: its
``search_after`` values) in one envelope that also records the sort, so a cursor cannot be
replayed against a search with another order. Tokens are URL-safe base64 of compact JSON.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from flowscope.errors import QueryError
from flowscope.query.model import SearchQuery


def encode(q: SearchQuery, position: dict[str, Any]) -> str:
    """A token for ``position`` (JSON values) in the order of ``q``."""
    payload = {"s": q.sort, "d": q.descending, **position}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(q: SearchQuery, token: str) -> dict[str, Any]:
    """The position in ``token``; a QueryError when it is not one of ours or not for ``q``."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, dict):
            raise TypeError(payload)
        same = payload.pop("s") == q.sort and payload.pop("d") == q.descending
    except (ValueError, KeyError, TypeError) as e:
        raise QueryError("invalid cursor: pass the next_cursor of a previous page") from e
    if not same:
        raise QueryError("this cursor belongs to a search with another sort order")
    return payload
