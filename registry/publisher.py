"""Cutting the change log into the feed, signing heads, and writing feeds and bundles.

Segments and snapshots are written once into ``DIR/objects/`` under their content
address and recorded in the store in the same transaction that cuts them; a crash
in between leaves at most an unreferenced file. Publishing copies the objects a
head lists into the output directory and writes the head last, atomically, so a
server never offers a head whose objects are not there yet.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import islice
from pathlib import Path

from registry.config import RegistryConfig
from registry.registry import Registry
from storage.database import transaction
from storage.durable import fsync_directory, write_atomic
from verifier.bundle import bundle_object_header, bundle_refs, encode_bundle_end, encode_bundle_prefix
from verifier.chain import genesis_chain
from verifier.freshness import BUNDLE_CHANNEL, HTTP_CHANNEL
from verifier.head import Head, build_head, verify_head
from verifier.objects import HEAD_PATH, CatalogueRef, ChunkRef, ObjectRef, SnapshotRef, catalogue_path, snapshot_path
from verifier.rows import Change, Row
from verifier.segment import encode_segment
from verifier.snapshot import chunk_header, snapshot_row

OBJECTS_DIR = "objects"
_CHUNK = 1 << 16
_HEADER_ALLOWANCE = 512  # room left in a chunk for its JSON header line


@dataclass(frozen=True)
class PublishResult:
    seq: int
    objects_written: int
    head_path: Path


class Publisher:
    """Turns a registry's change log into a signed, content-addressed feed."""

    def __init__(self, registry: Registry, config: RegistryConfig | None = None) -> None:
        self.registry = registry
        self.config = config or RegistryConfig()
        self.objects = registry.directory / OBJECTS_DIR

    def cut(self) -> None:
        """Cut every change not yet in a segment into segments, and snapshot when due."""
        store = self.registry.store
        issuer = self.registry.issuer
        with transaction(self.registry.connection):
            cut_seq, chain = store.cut_position()
            chain = chain or genesis_chain(issuer)
            pending = store.iter_changes(cut_seq)
            while batch := list(islice(pending, self.config.max_segment_changes)):
                changes = [Change(seq=seq, lookup_id=bytes(lid), box=bytes(box)) for seq, lid, box in batch]
                data, ref = encode_segment(issuer, chain, changes)
                self._write_object(ref.path, data)
                store.add_segment(ref)
                chain, cut_seq = ref.chain, ref.last_seq
            if self._snapshot_due(cut_seq):
                store.add_snapshot(self._write_snapshot(cut_seq, chain))

    def _snapshot_due(self, seq: int) -> bool:
        store = self.registry.store
        if seq == 0:
            return False
        latest = store.latest_snapshot()
        if latest is None:
            return True
        if latest.seq == seq:
            return False
        changed = seq - latest.seq
        return (
            changed >= self.config.snapshot_fraction * max(latest.records, 1)
            or store.segments_after(latest.seq) >= self.config.head_segment_window
        )

    def _write_object(self, relative: str, data: bytes) -> None:
        path = self.objects / relative
        if not path.exists():
            write_atomic(path, data)

    def _write_snapshot(self, seq: int, chain: str) -> SnapshotRef:
        """Stream the current rows into snapshot chunks of at most ``snapshot_chunk_bytes``.

        Rows go out in lookup-id order; a chunk closes when the next row would take it past
        the limit. A chunk's header names its row count, so rows are staged in a pending
        file and the header is written in front of them once the count is known.
        """
        issuer = self.registry.issuer
        _, digest, records = self.registry.state()
        limit = self.config.snapshot_chunk_bytes
        chunks: list[ChunkRef] = []
        pending: list[bytes] = []
        pending_size = 0

        def close_chunk() -> None:
            nonlocal pending, pending_size
            header = chunk_header(issuer, seq, chain, len(chunks), len(pending))
            data = header + b"".join(pending)
            sha256 = hashlib.sha256(data).hexdigest()
            ref = ChunkRef(
                path=snapshot_path(sha256),
                size=len(data),
                sha256=sha256,
                records=len(pending),
                seq=seq,
                index=len(chunks),
            )
            self._write_object(ref.path, data)
            chunks.append(ref)
            pending, pending_size = [], 0

        for lookup_id, box in self.registry.store.iter_rows():
            row = snapshot_row(Row(lookup_id=bytes(lookup_id), box=bytes(box)))
            if pending and pending_size + len(row) + _HEADER_ALLOWANCE > limit:
                close_chunk()
            pending.append(row)
            pending_size += len(row)
        if pending or not chunks:
            close_chunk()
        fsync_directory(self.objects / "snapshots")
        return SnapshotRef(seq=seq, chain=chain, records=records, digest=digest, chunks=tuple(chunks))

    def write_catalogue(self) -> CatalogueRef | None:
        """Write the issuer's catalogue as an object (unchanged catalogues share one address)."""
        catalogue = self.registry.catalogue()
        if catalogue.entries == 0:
            return None
        data = catalogue.to_bytes()
        sha256 = hashlib.sha256(data).hexdigest()
        ref = CatalogueRef(path=catalogue_path(sha256), size=len(data), sha256=sha256, entries=catalogue.entries)
        self._write_object(ref.path, data)
        return ref

    def signed_head(
        self, now: datetime, lifetime: timedelta | None = None, channel: str = HTTP_CHANNEL
    ) -> tuple[bytes, Head]:
        """Cut, then sign a head over the whole current state for ``channel``; verify it as a box would."""
        self.cut()
        store = self.registry.store
        seq, digest, records = self.registry.state()
        cut_seq, chain = store.cut_position()
        assert cut_seq == seq, "every change is cut before a head is signed"
        head_bytes = build_head(
            issuer=self.registry.issuer,
            seq=seq,
            chain=chain or genesis_chain(self.registry.issuer),
            digest=digest,
            records=records,
            issued_at=now,
            expires=now + (lifetime or self.config.head_lifetime),
            profile=self.registry.profile,
            segments=store.latest_segments(self.config.head_segment_window),
            snapshot=store.latest_snapshot(),
            catalogue=self.write_catalogue(),
            key_certificate=self.registry.key_certificate(),
            signing_key=self.registry.signing_key(),
            channel=channel,
        )
        head = verify_head(head_bytes, self.registry.trust_anchor(), now, channel=channel)
        return head_bytes, head

    def publish(self, outdir: Path, now: datetime) -> PublishResult:
        """Write the feed into ``outdir``: listed objects first, then the new head."""
        head_bytes, head = self.signed_head(now)
        written = 0
        listed: list[ObjectRef] = [
            *head.segments,
            *(head.snapshot.chunks if head.snapshot else ()),
            *([head.catalogue] if head.catalogue else []),
        ]
        for ref in listed:
            target = outdir / ref.path
            if target.exists() and target.stat().st_size == ref.size:
                continue
            write_atomic(target, self._object_chunks(ref))
            written += 1
        write_atomic(outdir / HEAD_PATH, head_bytes)
        return PublishResult(seq=head.seq, objects_written=written, head_path=outdir / HEAD_PATH)

    def _object_chunks(self, ref: ObjectRef) -> Iterator[bytes]:
        with open(self.objects / ref.path, "rb") as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def write_bundle(self, path: Path, now: datetime, since_seq: int | None = None) -> Head:
        """Write an offline bundle for boxes at ``since_seq`` (``None``: a new box)."""
        head_bytes, head = self.signed_head(now, self.config.bundle_lifetime, BUNDLE_CHANNEL)
        refs = bundle_refs(head, since_seq)

        def chunks() -> Iterator[bytes]:
            yield encode_bundle_prefix(head_bytes)
            for ref in refs:
                yield bundle_object_header(ref)
                yield from self._object_chunks(ref)
                yield b"\n"
            yield encode_bundle_end(len(refs))

        write_atomic(path, chunks())
        return head
