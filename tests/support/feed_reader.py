"""A reference reader of the signed feed that trusts nothing but the pinned root key.

It follows a published feed directory or a bundle exactly as a box must —
verify the head, plan from its cursor, check every object's size and hash,
parse, apply, and check the state digest the head announces — but keeps the
state in a dict. Tests use it to show that a feed reconstructs its registry.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from verifier.bundle import index_bundle, iter_entry_chunks, match_bundle_entries
from verifier.catalogue import Catalogue
from verifier.chain import genesis_chain
from verifier.digest import StateDigest
from verifier.errors import DigestMismatchError
from verifier.head import AcceptedHead, Head, plan_update, verify_head
from verifier.objects import HEAD_PATH, ObjectRef, check_object
from verifier.records import RecordPayload
from verifier.sealing import RecordKeys, unseal
from verifier.segment import parse_segment
from verifier.signing import TrustAnchor
from verifier.snapshot import parse_chunk


@dataclass
class FeedReader:
    anchor: TrustAnchor
    seq: int = 0
    chain: str = ""
    rows: dict[bytes, bytes] = field(default_factory=dict)
    accepted: AcceptedHead | None = None
    applied_objects: list[str] = field(default_factory=list)
    catalogue: Catalogue = field(init=False)

    def __post_init__(self) -> None:
        self.chain = self.chain or genesis_chain(self.anchor.issuer)
        self.catalogue = Catalogue(issuer=self.anchor.issuer)

    def payload(self, lookup_id: bytes, keys: RecordKeys) -> RecordPayload:
        """Open and read the record at ``lookup_id`` with its code's keys."""
        return RecordPayload.from_bytes(unseal(self.rows[lookup_id], keys, self.anchor.issuer), self.catalogue)

    def digest(self) -> str:
        state = StateDigest(self.anchor.issuer)
        state.add_many(self.rows.items())
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

        def checked(ref: ObjectRef) -> io.BytesIO:
            data: bytes = load(ref)  # type: ignore[operator]
            check_object(ref, len(data), hashlib.sha256(data).hexdigest())
            return io.BytesIO(data)

        catalogue = self.catalogue
        if head.catalogue is not None:
            catalogue = Catalogue.from_bytes(checked(head.catalogue).read(), head.issuer)
            assert catalogue.extends(self.catalogue), "a catalogue only grows"
        if plan.snapshot is not None:
            rows, last = {}, None
            for chunk in plan.snapshot.chunks:
                for row in parse_chunk(checked(chunk), plan.snapshot, chunk, head.issuer, last):
                    rows[row.lookup_id] = row.box
                    last = row.lookup_id
                self.applied_objects.append(chunk.name)
            seq, chain = plan.snapshot.seq, plan.snapshot.chain
        for segment in plan.segments:
            for change in parse_segment(checked(segment), segment, head.issuer):
                rows[change.lookup_id] = change.box
            seq, chain = segment.last_seq, segment.chain
            self.applied_objects.append(segment.name)
        state = StateDigest(head.issuer)
        state.add_many(rows.items())
        if state.hexdigest() != head.digest:
            raise DigestMismatchError("head", "the applied state differs from the digest the head announces")
        self.rows, self.seq, self.chain, self.catalogue = rows, seq, chain, catalogue
        self.accepted = AcceptedHead(
            seq=head.seq, chain=head.chain, issued_at=head.issued_at, key_version=head.key_version
        )
