"""A reference reader of the signed feed that trusts nothing but the pinned root key.

It follows a published feed directory or a bundle exactly as a box must —
verify the head, plan from its cursor, check every object's size and hash,
parse, apply, and check the state digest the head announces — but keeps the
state in a dict. Tests use it to show that a feed reconstructs its registry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from verifier.bundle import index_bundle, iter_entry_chunks, match_bundle_entries
from verifier.chain import genesis_chain
from verifier.digest import StateDigest
from verifier.errors import DigestMismatchError
from verifier.head import AcceptedHead, Head, plan_update, verify_head
from verifier.objects import HEAD_PATH, ObjectRef, SegmentRef, check_object
from verifier.segment import parse_segment
from verifier.signing import TrustAnchor
from verifier.snapshot import parse_snapshot


@dataclass
class FeedReader:
    anchor: TrustAnchor
    seq: int = 0
    chain: str = ""
    rows: dict[bytes, bytes] = field(default_factory=dict)
    accepted: AcceptedHead | None = None
    applied_objects: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.chain = self.chain or genesis_chain(self.anchor.issuer)

    def digest(self) -> str:
        state = StateDigest(self.anchor.issuer)
        for lookup_id in sorted(self.rows):
            state.update(lookup_id, self.rows[lookup_id])
        return state.hexdigest()

    def follow_directory(self, feed_dir: Path, now: datetime) -> Head:
        head = verify_head((feed_dir / HEAD_PATH).read_bytes(), self.anchor, now, self.accepted)
        self._apply(head, lambda ref: (feed_dir / ref.path).read_bytes())
        return head

    def follow_bundle(self, bundle: Path, now: datetime) -> Head:
        with open(bundle, "rb") as stream:
            index = index_bundle(stream)
            head = verify_head(index.head, self.anchor, now, self.accepted)
            entries = match_bundle_entries(index, head)

            def load(ref: ObjectRef) -> bytes:
                return b"".join(iter_entry_chunks(stream, entries[ref.sha256]))

            self._apply(head, load)
        return head

    def _apply(self, head: Head, load: object) -> None:
        plan = plan_update(head, self.seq, self.chain)
        rows = dict(self.rows)
        seq, chain = self.seq, self.chain
        for ref in [*([plan.snapshot] if plan.snapshot else []), *plan.segments]:
            data = load(ref)  # type: ignore[operator]
            check_object(ref, len(data), hashlib.sha256(data).hexdigest())
            lines = data.splitlines(keepends=True)
            if isinstance(ref, SegmentRef):
                for change in parse_segment(lines, ref, head.issuer):
                    rows[change.lookup_id] = change.box
                seq, chain = ref.last_seq, ref.chain
            else:
                rows = {row.lookup_id: row.box for row in parse_snapshot(lines, ref, head.issuer)}
                seq, chain = ref.seq, ref.chain
            self.applied_objects.append(ref.name)
        state = StateDigest(head.issuer)
        for lookup_id in sorted(rows):
            state.update(lookup_id, rows[lookup_id])
        if state.hexdigest() != head.digest:
            raise DigestMismatchError("head", "the applied state differs from the digest the head announces")
        self.rows, self.seq, self.chain = rows, seq, chain
        self.accepted = AcceptedHead(
            seq=head.seq, chain=head.chain, issued_at=head.issued_at, key_version=head.key_version
        )
