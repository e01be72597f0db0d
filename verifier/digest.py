"""The content digest of an issuer's state: one hash over the rows a side holds.

The registry computes it over its current sealed rows and a box over its replica,
both in lookup-id order; equal digests at equal seq mean equal data, so anyone can
check that a replica equals its registry without seeing a single record.
"""

from __future__ import annotations

import hashlib

_DOMAIN = b"sehat/state/v1\x00"


class StateDigest:
    """Incremental digest: feed rows in strictly increasing lookup-id order."""

    def __init__(self, issuer: str) -> None:
        self._hash = hashlib.sha256(_DOMAIN + issuer.encode("ascii") + b"\x00")
        self._last: bytes | None = None
        self.rows = 0

    def update(self, lookup_id: bytes, box: bytes) -> None:
        if self._last is not None and lookup_id <= self._last:
            raise ValueError("rows must be fed in strictly increasing lookup-id order")
        self._last = lookup_id
        self._hash.update(lookup_id + len(box).to_bytes(4, "big") + box)
        self.rows += 1

    def hexdigest(self) -> str:
        return self._hash.hexdigest()


def state_digest(issuer: str, rows: list[tuple[bytes, bytes]] | None = None) -> str:
    """Digest of ``rows`` (``(lookup_id, box)`` pairs, any order) — for small states and tests."""
    digest = StateDigest(issuer)
    for lookup_id, box in sorted(rows or []):
        digest.update(lookup_id, box)
    return digest.hexdigest()
