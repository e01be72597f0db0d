"""The hash chain that links every segment of an issuer's feed to the one before.

A box stores its cursor as (seq, chain). A segment is accepted only if it starts
at seq + 1 and names the stored chain value as its predecessor; its own chain
value covers its bytes, so nobody can splice, reorder or drop a segment without
the next one failing to chain.
"""

from __future__ import annotations

import hashlib

_GENESIS_DOMAIN = b"sehat/genesis/v2\x00"
_CHAIN_DOMAIN = b"sehat/chain/v2\x00"


def genesis_chain(issuer: str) -> str:
    """The chain value before an issuer's first change (seq 0)."""
    return hashlib.sha256(_GENESIS_DOMAIN + issuer.encode("ascii")).hexdigest()


def next_chain(prev_chain: str, segment_sha256: str) -> str:
    """The chain value after a segment: ``SHA-256(domain ‖ prev ‖ SHA-256(segment))``."""
    return hashlib.sha256(_CHAIN_DOMAIN + bytes.fromhex(prev_chain) + bytes.fromhex(segment_sha256)).hexdigest()
