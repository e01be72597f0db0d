"""docs/protocol.md's test vectors are exactly what the code computes, and they verify."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.support.vectors import compute_vectors
from verifier.catalogue import Catalogue
from verifier.head import verify_head
from verifier.records import RecordPayload
from verifier.sealing import KdfParams, RecordKeys, derive_record_keys, unseal
from verifier.signing import TrustAnchor

PROTOCOL = Path(__file__).parent.parent / "docs" / "protocol.md"


@pytest.fixture(scope="module")
def documented() -> dict[str, Any]:
    text = PROTOCOL.read_text(encoding="utf-8")
    match = re.search(r"<!-- test-vectors:start -->\n```json\n(.*?)\n```\n<!-- test-vectors:end -->", text, re.S)
    assert match, "docs/protocol.md has no test-vector block"
    vectors: dict[str, Any] = json.loads(match.group(1))
    return vectors


def test_the_documented_vectors_are_what_the_code_computes(documented: dict[str, Any]) -> None:
    assert documented == compute_vectors()


def test_the_documented_lookup_id_comes_from_the_documented_code(documented: dict[str, Any]) -> None:
    inputs = documented["inputs"]
    kdf = KdfParams(log2_n=inputs["kdf"]["log2_n"], r=inputs["kdf"]["r"], p=inputs["kdf"]["p"])
    keys = derive_record_keys(inputs["code"], inputs["issuer"], kdf)
    assert keys.lookup_id.hex() == documented["lookup_id_hex"]


def test_the_documented_box_opens_to_the_documented_payload(documented: dict[str, Any]) -> None:
    keys = RecordKeys(bytes.fromhex(documented["lookup_id_hex"]), bytes.fromhex(documented["payload_key_hex"]))
    plaintext = unseal(bytes.fromhex(documented["box_hex"]), keys, documented["inputs"]["issuer"])
    assert plaintext.decode("utf-8") == documented["payload"]
    catalogue = Catalogue.from_bytes(documented["catalogue"].encode("ascii"), documented["inputs"]["issuer"])
    payload = RecordPayload.from_bytes(plaintext, catalogue)
    assert (payload.holder_name, payload.document.institution) == ("آزاده نمونه", "دانشگاه نمونه")


def test_the_documented_head_verifies_under_the_documented_root(documented: dict[str, Any]) -> None:
    anchor = TrustAnchor(
        issuer=documented["inputs"]["issuer"], root_public_key=bytes.fromhex(documented["root_public_key_hex"])
    )
    head = verify_head(documented["head"].encode("ascii"), anchor, datetime(2026, 1, 2, tzinfo=UTC))
    assert (head.seq, head.digest, head.chain) == (
        1,
        documented["state_digest"],
        documented["chain_after_segment"],
    )
