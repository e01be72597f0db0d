"""The protocol's test vectors, computed from fixed keys, a fixed record and a fixed nonce.

``docs/protocol.md`` carries the output of this module; ``tests/test_protocol_vectors.py``
recomputes it and checks that the document and the code agree byte for byte. After a
deliberate protocol change, regenerate with ``python -m tests.support.vectors``.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from verifier.catalogue import Catalogue
from verifier.chain import genesis_chain
from verifier.digest import state_digest
from verifier.head import IssuerProfile, build_head
from verifier.objects import CatalogueRef, ChunkRef, SnapshotRef, catalogue_path, snapshot_path
from verifier.records import Document, RecordPayload
from verifier.rows import Change, Row
from verifier.sealing import KdfParams, derive_master, issuer_keys, seal
from verifier.segment import encode_segment
from verifier.signing import make_key_certificate, public_key_bytes
from verifier.snapshot import chunk_header, snapshot_row

ISSUER = "vector-uni"
CODE = "12345678901234567890"
ROOT_SEED = bytes(range(32))
SIGNING_SEED = bytes(range(32, 64))
NONCE = bytes(12)
ISSUED_AT = datetime(2026, 1, 1, tzinfo=UTC)
EXPIRES = datetime(2026, 1, 3, tzinfo=UTC)
PAYLOAD = RecordPayload(
    document=Document(
        document_type="diploma",
        degree_level="کارشناسی",
        field="مهندسی کامپیوتر",
        institution="دانشگاه نمونه",
        issued_on="2025-09-21",
    ),
    holder_name="آزاده نمونه",
    national_id="0499370899",
)
CATALOGUE = Catalogue(
    issuer=ISSUER, degree_levels=("کارشناسی",), fields=("مهندسی کامپیوتر",), institutions=("دانشگاه نمونه",)
)


def _position(kind: str, name: str) -> int:
    return CATALOGUE.names(kind).index(name)


def compute_vectors() -> dict[str, Any]:
    root = Ed25519PrivateKey.from_private_bytes(ROOT_SEED)
    signing = Ed25519PrivateKey.from_private_bytes(SIGNING_SEED)
    kdf = KdfParams()
    master = derive_master(CODE, kdf)
    keys = issuer_keys(master, ISSUER)
    plaintext = PAYLOAD.to_bytes(_position)
    box = seal(plaintext, keys, ISSUER, NONCE)
    segment, segment_ref = encode_segment(ISSUER, genesis_chain(ISSUER), [Change(1, keys.lookup_id, box)])
    chunk = chunk_header(ISSUER, 1, segment_ref.chain, 0, 1) + snapshot_row(Row(keys.lookup_id, box))
    digest = state_digest(ISSUER, [(keys.lookup_id, box)])
    chunk_sha = hashlib.sha256(chunk).hexdigest()
    snapshot_ref = SnapshotRef(
        seq=1,
        chain=segment_ref.chain,
        records=1,
        digest=digest,
        chunks=(ChunkRef(path=snapshot_path(chunk_sha), size=len(chunk), sha256=chunk_sha, records=1, seq=1),),
    )
    catalogue = CATALOGUE.to_bytes()
    catalogue_sha = hashlib.sha256(catalogue).hexdigest()
    catalogue_ref = CatalogueRef(
        path=catalogue_path(catalogue_sha), size=len(catalogue), sha256=catalogue_sha, entries=CATALOGUE.entries
    )
    certificate = make_key_certificate(ISSUER, public_key_bytes(signing), 1, ISSUED_AT, root)
    head = build_head(
        issuer=ISSUER,
        seq=1,
        chain=segment_ref.chain,
        digest=digest,
        records=1,
        issued_at=ISSUED_AT,
        expires=EXPIRES,
        profile=IssuerProfile(name_fa="دانشگاه نمونه", name_en="Sample University", kdf=kdf),
        segments=[segment_ref],
        snapshot=snapshot_ref,
        catalogue=catalogue_ref,
        key_certificate=certificate,
        signing_key=signing,
    )
    return {
        "inputs": {
            "issuer": ISSUER,
            "code": CODE,
            "root_private_seed_hex": ROOT_SEED.hex(),
            "signing_private_seed_hex": SIGNING_SEED.hex(),
            "nonce_hex": NONCE.hex(),
            "kdf": kdf.to_dict(),
            "issued_at": "2026-01-01T00:00:00Z",
            "expires": "2026-01-03T00:00:00Z",
        },
        "root_public_key_hex": public_key_bytes(root).hex(),
        "signing_public_key_hex": public_key_bytes(signing).hex(),
        "master_hex": master.hex(),
        "lookup_id_hex": keys.lookup_id.hex(),
        "payload_key_hex": keys.payload_key.hex(),
        "payload": plaintext.decode("utf-8"),
        "box_hex": box.hex(),
        "genesis_chain": genesis_chain(ISSUER),
        "catalogue": catalogue.decode("ascii"),
        "catalogue_sha256": catalogue_sha,
        "segment_hex": segment.hex(),
        "segment_sha256": segment_ref.sha256,
        "chain_after_segment": segment_ref.chain,
        "snapshot_chunk_hex": chunk.hex(),
        "snapshot_chunk_sha256": chunk_sha,
        "state_digest": digest,
        "head": head.decode("ascii"),
    }


def render() -> str:
    return json.dumps(compute_vectors(), indent=2, ensure_ascii=False)


if __name__ == "__main__":
    print(render())
