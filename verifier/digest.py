"""The content digest of an issuer's state, kept up to date row by row.

The registry and every box keep the digest of the rows they hold; equal digests at
equal seq mean equal data, so anyone can check that a replica equals its registry
without seeing a single record. To keep it without ever rescanning millions of rows
it is a *multiset hash* (Bellare and Micciancio's AdHash): each row is hashed to a
4096-bit number (SHAKE-128), the state is the sum of its rows' numbers modulo 2^4096,
so adding, replacing or removing a row costs one or two row hashes, in any order.
With a 4096-bit modulus, the best known way to find two multisets with the same sum
(Wagner's generalised birthday attack) needs about 2^128 work. The digest a head
announces is SHA-256 over the issuer, the row count and the sum.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

SUM_BYTES = 512  # 4096 bits
_MODULUS = 1 << (8 * SUM_BYTES)
_ROW_DOMAIN = b"sehat/row/v2\x00"
_STATE_DOMAIN = b"sehat/state/v2\x00"


def row_hash(lookup_id: bytes, box: bytes) -> int:
    """One row's number: SHAKE-128 of the row, 4096 bits, as an integer."""
    data = _ROW_DOMAIN + len(lookup_id).to_bytes(1, "big") + lookup_id + box
    return int.from_bytes(hashlib.shake_128(data).digest(SUM_BYTES), "little")


class StateDigest:
    """An issuer's state digest: a running sum of row hashes, and the row count.

    ``add`` a row that is new, ``replace`` one whose box changed, ``remove`` one that
    left; ``total`` and ``records`` persist (``to_bytes``) beside the rows they cover.
    """

    def __init__(self, issuer: str, total: int = 0, records: int = 0) -> None:
        self.issuer = issuer
        self.total = total % _MODULUS
        self.records = records

    @classmethod
    def from_bytes(cls, issuer: str, data: bytes | None, records: int) -> StateDigest:
        """The digest stored as ``to_bytes`` (``None``: the empty state)."""
        if data is None:
            return cls(issuer)
        if len(data) != SUM_BYTES:
            raise ValueError("a stored state sum is 512 bytes")
        return cls(issuer, int.from_bytes(data, "little"), records)

    def to_bytes(self) -> bytes:
        return (self.total % _MODULUS).to_bytes(SUM_BYTES, "little")

    def add(self, lookup_id: bytes, box: bytes) -> None:
        self.total += row_hash(lookup_id, box)
        self.records += 1

    def remove(self, lookup_id: bytes, box: bytes) -> None:
        self.total -= row_hash(lookup_id, box)
        self.records -= 1

    def replace(self, lookup_id: bytes, old_box: bytes | None, new_box: bytes) -> None:
        """Row ``lookup_id`` now holds ``new_box`` (``old_box`` None: it is new)."""
        if old_box is not None:
            self.remove(lookup_id, old_box)
        self.add(lookup_id, new_box)

    def add_many(self, rows: Iterable[tuple[bytes, bytes]]) -> None:
        total, count = 0, 0
        for lookup_id, box in rows:
            total += row_hash(lookup_id, box)
            count += 1
        self.total += total
        self.records += count

    def hexdigest(self) -> str:
        self.total %= _MODULUS
        data = (
            _STATE_DOMAIN
            + self.issuer.encode("ascii")
            + b"\x00"
            + self.records.to_bytes(8, "big")
            + self.total.to_bytes(SUM_BYTES, "little")
        )
        return hashlib.sha256(data).hexdigest()


def state_digest(issuer: str, rows: Iterable[tuple[bytes, bytes]] = ()) -> str:
    """Digest of ``rows`` (``(lookup_id, box)`` pairs, any order) — for whole states and tests."""
    digest = StateDigest(issuer)
    digest.add_many(rows)
    return digest.hexdigest()
