"""The registry of one issuer: its keys, its records, and every change to them.

Each change — a record issued, revoked, superseded or corrected — reseals the
record's payload under its code and appends it to the change log with the next
sequence number, in the same transaction. The feed is cut from that log by
``registry.publisher``.
"""

from __future__ import annotations

import io
import math
import os
import secrets
from collections.abc import Container, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.bulk_import import BulkImport, ImportSource, ImportSummary, ProgressCallback
from registry.config import RegistryConfig
from registry.errors import RecordStateError, RegistryError, UnknownCodeError
from registry.import_ledger import ImportLedger
from registry.keys import (
    KEYS_DIR,
    SIGNING_KEY_FILE,
    STORE_KEY_FILE,
    load_private_key,
    write_private_key,
)
from registry.store import RegistryStore, StoredRecord
from storage.database import Connection, IntegrityError, open_store, transaction
from storage.keyfile import create_key_file, read_key_file
from verifier.canonical import b64encode, format_timestamp
from verifier.catalogue import KINDS, Catalogue
from verifier.check_digits import CODE_LENGTH, SCHEMES, check_length, complete_code
from verifier.digest import StateDigest
from verifier.errors import InputError, OperatorError
from verifier.head import IssuerProfile
from verifier.national_id import normalize_national_id
from verifier.normalize import normalize_code
from verifier.records import DOCUMENT_TYPES, Document, RecordPayload, Revocation, Supersession
from verifier.sealing import NONCE_BYTES, KdfParams, derive_record_keys, seal
from verifier.signing import TrustAnchor, check_issuer_id, make_key_certificate, public_key_bytes

STORE_FILE = "registry.db"
PROTOCOL_VERSION = "2"
# The reference registry issues codes with at least this much randomness; docs/protocol.md
# derives the privacy bound of sealed records from it.
MIN_CODE_ENTROPY_BITS = 60


def code_entropy_bits(scheme: str) -> float:
    """Bits of randomness in a code the registry issues under ``scheme``."""
    return (CODE_LENGTH - check_length(scheme)) * math.log2(10)


class Registry:
    """An open registry directory. Use ``Registry.init`` or ``Registry.open``."""

    def __init__(self, directory: Path, connection: Connection) -> None:
        self.directory = directory
        self.connection = connection
        self.store = RegistryStore(connection)
        issuer = self.store.get_meta("issuer")
        if issuer is None:
            raise RegistryError(
                f"{directory} is not an initialised registry.", f"{directory} یک مخزن راه‌اندازی‌شده نیست."
            )
        if self.store.get_meta("protocol") != PROTOCOL_VERSION:
            raise RegistryError(
                f"{directory} was made for feed protocol 1, which this version no longer publishes; "
                "create a new registry and import its records again.",
                f"{directory} برای نسخه ۱ پروتکل ساخته شده است؛ مخزن تازه‌ای بسازید و سوابق را دوباره وارد کنید.",
            )
        self.issuer: str = issuer
        self._positions: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}
        for kind, names in self.store.catalogue_entries().items():
            self._positions[kind] = {name: position for position, name in enumerate(names)}
        profile = self.store.get_meta_json("profile")
        self.profile = IssuerProfile(
            name_fa=profile["name_fa"],
            name_en=profile["name_en"],
            check_digits=profile["check_digits"],
            kdf=KdfParams(**profile["kdf"]),
            code_bits=profile.get("code_bits"),
        )

    # --- life cycle -------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        directory: Path,
        issuer: str,
        now: datetime,
        *,
        name_fa: str = "",
        name_en: str = "",
        check_digits: str = "none",
        kdf: KdfParams | None = None,
        root_key_path: Path,
        root_passphrase: bytes | None = None,
    ) -> Registry:
        """Create a registry: keys, the encrypted store and the issuer's profile.

        Args:
            root_key_path: where to write the issuer's root key — outside ``directory``,
                on a medium the operator keeps offline; never overwritten.
            root_passphrase: encrypt the root key under this passphrase.

        Raises:
            OperatorError: a bad issuer id or scheme, an existing registry or root key file,
                or a root key path inside the registry directory.
        """
        try:
            check_issuer_id(issuer)
        except ValueError as error:
            raise OperatorError(str(error), "شناسه صادرکننده نامعتبر است.") from error
        if check_digits not in SCHEMES or code_entropy_bits(check_digits) < MIN_CODE_ENTROPY_BITS:
            allowed = [scheme for scheme in SCHEMES if code_entropy_bits(scheme) >= MIN_CODE_ENTROPY_BITS]
            raise OperatorError(
                f"check-digit scheme must be one of {', '.join(allowed)} "
                f"(issued codes keep at least {MIN_CODE_ENTROPY_BITS} random bits)",
                "طرح رقم کنترلی پشتیبانی نمی‌شود.",
            )
        keys_dir = directory / KEYS_DIR
        if (directory / STORE_FILE).exists() or keys_dir.exists():
            raise OperatorError(
                f"{directory} already holds a registry; refusing to overwrite it.",
                f"در {directory} از پیش مخزنی وجود دارد؛ بازنویسی نمی‌شود.",
            )
        if root_key_path.resolve().is_relative_to(directory.resolve()):
            raise OperatorError(
                f"The root key must not be kept in the registry directory ({root_key_path}); "
                "give a path on a removable medium.",
                "کلید ریشه نباید در پوشه مخزن نگه داشته شود؛ مسیری روی یک رسانه جداشدنی بدهید.",
            )
        if root_key_path.exists():
            raise OperatorError(
                f"{root_key_path} already exists; refusing to overwrite a key.",
                f"{root_key_path} از پیش وجود دارد؛ کلیدی بازنویسی نمی‌شود.",
            )
        root = Ed25519PrivateKey.generate()
        signing = Ed25519PrivateKey.generate()
        root_key_path.parent.mkdir(parents=True, exist_ok=True)
        write_private_key(root_key_path, root, root_passphrase)
        keys_dir.mkdir(parents=True, mode=0o700)
        write_private_key(keys_dir / SIGNING_KEY_FILE, signing)
        store_key = create_key_file(keys_dir / STORE_KEY_FILE)
        connection = open_store(directory / STORE_FILE, store_key, create=True)
        store = RegistryStore(connection)
        profile = IssuerProfile(
            name_fa=name_fa or issuer,
            name_en=name_en or issuer,
            check_digits=check_digits,
            kdf=kdf or KdfParams(),
        )
        with transaction(connection):
            store.set_meta("issuer", issuer)
            store.set_meta("protocol", PROTOCOL_VERSION)
            store.set_meta("root_public_key", public_key_bytes(root).hex())
            store.set_meta_json(
                "profile",
                {
                    "name_fa": profile.name_fa,
                    "name_en": profile.name_en,
                    "check_digits": profile.check_digits,
                    "kdf": {"log2_n": profile.kdf.log2_n, "r": profile.kdf.r, "p": profile.kdf.p},
                },
            )
            store.set_meta_json(
                "key_certificate", make_key_certificate(issuer, public_key_bytes(signing), 1, now, root)
            )
        return cls(directory, connection)

    @classmethod
    def open(cls, directory: Path) -> Registry:
        if not (directory / STORE_FILE).exists():
            raise RegistryError(
                f"No registry at {directory} (run: sehat registry init {directory}).",
                f"مخزنی در {directory} نیست؛ ابتدا sehat registry init را اجرا کنید.",
            )
        key = read_key_file(directory / KEYS_DIR / STORE_KEY_FILE)
        return cls(directory, open_store(directory / STORE_FILE, key))

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- keys ---------------------------------------------------------------------------------

    def trust_anchor(self) -> TrustAnchor:
        return TrustAnchor(
            issuer=self.issuer,
            root_public_key=bytes.fromhex(self.store.get_meta("root_public_key") or ""),
            name_fa=self.profile.name_fa,
            name_en=self.profile.name_en,
        )

    def signing_key(self) -> Ed25519PrivateKey:
        """The online key the stored certificate vouches for.

        A rotation writes the new key beside the old one, commits its certificate, then moves
        it into place; if it stopped in between, the certified key is finished moving here.
        """
        keys = self.directory / KEYS_DIR
        certified = self.key_certificate()["signed"]
        assert isinstance(certified, dict)
        pending = keys / (SIGNING_KEY_FILE + ".new")
        if pending.exists():
            candidate = load_private_key(pending)
            if b64encode(public_key_bytes(candidate)) == certified["public_key"]:
                os.replace(pending, keys / SIGNING_KEY_FILE)
                return candidate
            pending.unlink()
        return load_private_key(keys / SIGNING_KEY_FILE)

    def key_certificate(self) -> dict[str, object]:
        certificate: dict[str, object] = self.store.get_meta_json("key_certificate")
        return certificate

    def key_version(self) -> int:
        signed = self.key_certificate()["signed"]
        assert isinstance(signed, dict)
        return int(signed["version"])

    def rotate_signing_key(self, now: datetime, root_key_path: Path, root_passphrase: bytes | None = None) -> int:
        """Replace the online signing key; the root certifies the new one with the next version.

        Boxes that see a head signed under the new certificate refuse every head signed
        with an older one from then on — and are no longer bound by the clock floor and
        rollback state the retired key's heads set.

        Args:
            root_key_path: the root key, on the medium it is kept on offline.
            root_passphrase: its passphrase, if it is encrypted.

        Raises:
            KeyFileError: the root key is missing, unreadable or its passphrase wrong.
            OperatorError: the key is not this issuer's root.
        """
        root = load_private_key(root_key_path, root_passphrase)
        if public_key_bytes(root) != self.trust_anchor().root_public_key:
            raise OperatorError(
                f"{root_key_path} is not the root key of issuer {self.issuer!r}.",
                f"{root_key_path} کلید ریشه صادرکننده {self.issuer} نیست.",
            )
        version = self.key_version() + 1
        signing = Ed25519PrivateKey.generate()
        certificate = make_key_certificate(self.issuer, public_key_bytes(signing), version, now, root)
        pending = self.directory / KEYS_DIR / (SIGNING_KEY_FILE + ".new")
        write_private_key(pending, signing)
        with transaction(self.connection):
            self.store.set_meta_json("key_certificate", certificate)
        self.signing_key()  # moves the newly certified key into place
        return version

    # --- changes ------------------------------------------------------------------------------

    def _seal(self, code: str, payload: RecordPayload) -> tuple[bytes, bytes]:
        return self.seal_plaintext(code, self.payload_bytes(payload))

    def seal_plaintext(self, code: str, plaintext: bytes) -> tuple[bytes, bytes]:
        """Seal an encoded payload under ``code``: ``(lookup_id, box)``; safe on any thread (see ``seal_payload``)."""
        return seal_payload(code, self.issuer, self.profile.kdf, plaintext)

    def payload_bytes(self, payload: RecordPayload) -> bytes:
        """Encode a payload, adding its public names to the catalogue if they are new."""
        return payload.to_bytes(self.catalogue_position)

    def catalogue_position(self, kind: str, name: str) -> int:
        """The catalogue position of ``name``; a new name is appended and stored at once.

        Entries are public and only ever appended, so one stored for a change that is
        then rolled back costs nothing but a line in the next catalogue.
        """
        positions = self._positions[kind]
        if name not in positions:
            position = len(positions)
            try:
                self.store.add_catalogue_entry(kind, position, name)
                positions[name] = position
            except IntegrityError:
                # Another process appended names since these were read (a correction during a long
                # import): read them again, and append after them if this name is still new.
                names = self.store.catalogue_entries().get(kind, [])
                positions = self._positions[kind] = {known: index for index, known in enumerate(names)}
                if name not in positions:
                    position = len(positions)
                    self.store.add_catalogue_entry(kind, position, name)
                    positions[name] = position
        return positions[name]

    def catalogue(self) -> Catalogue:
        entries = self.store.catalogue_entries()
        return Catalogue(issuer=self.issuer, **{kind: tuple(entries.get(kind, ())) for kind in KINDS})

    def _payload(self, record: StoredRecord) -> RecordPayload:
        revocation = (
            Revocation(reason=record.revocation_reason, revoked_on=record.revoked_on or "")
            if record.revocation_reason is not None
            else None
        )
        superseded = None
        if record.superseded_by is not None:
            newer = self.store.get_record(record.superseded_by)
            if newer is None:
                raise RecordStateError("A superseding record is missing.", "سند جایگزین پیدا نشد.")
            superseded = Supersession(
                document_type=newer.document_type, issued_on=newer.issued_on, code_hint="…" + newer.code[-4:]
            )
        return RecordPayload(
            document=Document(
                document_type=record.document_type,
                degree_level=record.degree_level,
                field=record.field,
                institution=record.institution,
                issued_on=record.issued_on,
            ),
            holder_name=record.full_name,
            national_id=record.national_id,
            revocation=revocation,
            superseded_by=superseded,
        )

    def _record_change(self, record: StoredRecord, kind: str, now: datetime) -> StoredRecord:
        """Reseal ``record``, store it and log the change under the next seq (inside a transaction)."""
        lookup_id, box = self._seal(record.code, self._payload(record))
        return self._store_change(replace(record, lookup_id=lookup_id, box=box), kind, now)

    def _store_change(self, sealed: StoredRecord, kind: str, now: datetime) -> StoredRecord:
        """Store an already sealed record and log it under the next seq (inside a transaction)."""
        return self._store_changes([sealed], kind, now)[0]

    def _store_changes(self, sealed: list[StoredRecord], kind: str, now: datetime) -> list[StoredRecord]:
        """Store sealed records under the next seqs and keep the state digest (inside a transaction)."""
        state = self._kept_state()
        seq = self.store.last_seq()
        stored: list[StoredRecord] = []
        for record in sealed:
            seq += 1
            previous = self.store.get_record(record.code)
            current = replace(record, seq=seq)
            self.store.put_record(current)
            self.store.append_change(seq, kind, current.lookup_id, current.box, format_timestamp(now))
            if previous is not None and previous.lookup_id != current.lookup_id:
                raise RecordStateError("A record's lookup id changed.", "شناسه جست‌وجوی یک سند تغییر کرد.")
            state.replace(current.lookup_id, previous.box if previous else None, current.box)
            stored.append(current)
        self.store.set_meta("state_sum", state.to_bytes().hex())
        self.store.set_meta("state_records", str(state.records))
        return stored

    def _kept_state(self) -> StateDigest:
        total = self.store.get_meta("state_sum")
        return StateDigest.from_bytes(
            self.issuer,
            bytes.fromhex(total) if total is not None else None,
            int(self.store.get_meta("state_records") or 0),
        )

    def lookup(self, code: str) -> StoredRecord:
        """The stored record with ``code`` (typed in any digit system)."""
        try:
            normalised = normalize_code(code, (self.profile.check_digits,))
        except InputError as error:
            raise RegistryError(error.message, error.message_fa) from error
        record = self.store.get_record(normalised)
        if record is None:
            raise UnknownCodeError()
        return record

    def issue_code(self, taken: Container[str] | None = None) -> str:
        """A fresh random code, not yet used (nor in ``taken``), with the issuer's check digits."""
        body_length = CODE_LENGTH - check_length(self.profile.check_digits)
        while True:
            body = f"{secrets.randbelow(10**body_length):0{body_length}d}"  # one draw, uniform over the bodies
            code = complete_code(body, self.profile.check_digits)
            if not self.store.code_exists(code) and (taken is None or code not in taken):
                return code

    def import_file(
        self,
        path: Path,
        now: datetime,
        *,
        accept_weak_codes: bool = False,
        workers: int | None = None,
        on_progress: ProgressCallback | None = None,
        config: RegistryConfig | None = None,
    ) -> ImportSummary:
        """Import a CSV file of any size whole or not at all, or finish an import of it a kill interrupted.

        The file is streamed (``registry.bulk_import``): checked row by row first — any bad row
        and nothing is imported — then sealed on ``workers`` threads (default: one per core)
        and committed in batches. Running it again on the same file resumes an interrupted
        import, or reports one already finished (``ImportSummary.repeated``) without importing
        anything twice. The codes are in ``import_codes(summary.sha256)``.

        Codes the file supplies are checked for randomness (``registry.code_randomness``):
        if they seem to carry fewer than ``MIN_CODE_ENTROPY_BITS``, the import is refused
        unless ``accept_weak_codes``, which records the estimate in the signed profile
        (``code_bits``, the lowest of every weak import) so that every box is told.

        Raises:
            ImportRejectedError: bad rows, each named by line; nothing was imported.
            WeakCodesError: the supplied codes look non-random; nothing was imported.
            ImportChangedError: the file changed while it was being imported.
            ImportBusyError: another process is importing the same file.
        """
        source = ImportSource(str(path), lambda: path.open("rb"))
        return BulkImport(self, config or RegistryConfig(), MIN_CODE_ENTROPY_BITS).run(
            source, now, accept_weak_codes=accept_weak_codes, workers=workers, on_progress=on_progress
        )

    def import_csv(self, data: bytes, now: datetime, *, accept_weak_codes: bool = False) -> list[tuple[int, str]]:
        """Import an in-memory CSV file as ``import_file`` does; return ``(line, code)`` for every row.

        The same bytes imported again are not imported twice: their earlier codes are returned.
        """
        source = ImportSource("the import file", lambda: io.BytesIO(data))
        summary = BulkImport(self, RegistryConfig(), MIN_CODE_ENTROPY_BITS).run(
            source, now, accept_weak_codes=accept_weak_codes
        )
        return list(self.import_codes(summary.sha256))

    def import_codes(self, sha256: str) -> Iterator[tuple[int, str]]:
        """``(line, code)`` of every row imported from the file with this SHA-256, in line order."""
        return ImportLedger(self.connection).codes(sha256)

    def _record_code_bits(self, bits: int) -> None:
        """Lower the signed profile's ``code_bits`` to ``bits`` (inside the import's transaction)."""
        if self.profile.code_bits is not None and self.profile.code_bits <= bits:
            return
        profile = self.store.get_meta_json("profile")
        profile["code_bits"] = bits
        self.store.set_meta_json("profile", profile)
        self.profile = replace(self.profile, code_bits=bits)

    def revoke(self, code: str, reason: str, now: datetime, revoked_on: date | None = None) -> int:
        """Revoke a record; returns the change's seq."""
        reason = reason.strip()
        if not reason:
            raise RecordStateError("A revocation needs a reason.", "ابطال بدون ذکر دلیل ممکن نیست.")
        with transaction(self.connection):
            record = self.lookup(code)
            if record.revocation_reason is not None:
                raise RecordStateError("This record is already revoked.", "این سند پیش‌تر باطل شده است.")
            changed = replace(record, revocation_reason=reason, revoked_on=(revoked_on or now.date()).isoformat())
            return self._record_change(changed, "revoke", now).seq

    def supersede(self, old_code: str, new_code: str, now: datetime) -> int:
        """Mark ``old_code``'s document as replaced by ``new_code``'s (same holder)."""
        with transaction(self.connection):
            old = self.lookup(old_code)
            new = self.lookup(new_code)
            if old.code == new.code:
                raise RecordStateError("A document cannot supersede itself.", "سند نمی‌تواند جایگزین خودش شود.")
            if old.national_id != new.national_id:
                raise RecordStateError(
                    "The two documents belong to different holders (national IDs differ).",
                    "این دو سند متعلق به یک نفر نیستند (کد ملی متفاوت است).",
                )
            if old.superseded_by is not None:
                raise RecordStateError("This document is already superseded.", "این سند پیش‌تر جایگزین شده است.")
            if new.revocation_reason is not None or new.superseded_by is not None:
                raise RecordStateError(
                    "The newer document is itself revoked or superseded.",
                    "سند جدید خودش باطل یا جایگزین شده است.",
                )
            if new.issued_on < old.issued_on:
                raise RecordStateError(
                    "The newer document was issued before the one it supersedes.",
                    "تاریخ صدور سند جدید پیش از سند قبلی است.",
                )
            return self._record_change(replace(old, superseded_by=new.code), "supersede", now).seq

    CORRECTABLE = ("national_id", "full_name", "document_type", "degree_level", "field", "institution", "issued_on")

    def correct(self, code: str, changes: dict[str, str], now: datetime) -> int:
        """Correct fields of a record; documents it superseded are resealed to name it anew."""
        unknown = set(changes) - set(self.CORRECTABLE)
        if unknown or not changes:
            raise RecordStateError(
                f"Correctable fields: {', '.join(self.CORRECTABLE)}.", "فیلدی برای اصلاح مشخص نشده است."
            )
        values = {name: value.strip() for name, value in changes.items()}
        if "national_id" in values:
            try:
                values["national_id"] = normalize_national_id(values["national_id"])
            except InputError as error:
                raise RecordStateError(error.message, error.message_fa) from error
        if "document_type" in values and values["document_type"] not in DOCUMENT_TYPES:
            raise RecordStateError(f"document_type must be one of {', '.join(DOCUMENT_TYPES)}", "نوع سند نامعتبر است.")
        if "issued_on" in values:
            try:
                if date.fromisoformat(values["issued_on"]) > now.date():
                    raise RecordStateError("issued_on is in the future.", "تاریخ صدور در آینده است.")
            except ValueError as error:
                raise RecordStateError("issued_on must be an ISO date.", "تاریخ صدور نامعتبر است.") from error
        if any(not value for value in values.values()):
            raise RecordStateError("A corrected field cannot be empty.", "فیلد اصلاح‌شده نمی‌تواند خالی باشد.")
        with transaction(self.connection):
            record = self.lookup(code)
            seq = self._record_change(replace(record, **values), "correct", now).seq  # type: ignore[arg-type]
            for older in self.store.records_superseded_by(record.code):
                seq = self._record_change(older, "correct", now).seq
            return seq

    # --- state --------------------------------------------------------------------------------

    def _reading(self) -> AbstractContextManager[object]:
        """One consistent read: a transaction of its own, or the one already open."""
        if self.connection.in_transaction:
            return nullcontext()
        return transaction(self.connection, immediate=False)

    def state(self) -> tuple[int, str, int]:
        """``(seq, content digest, records)`` of the current state, as kept change by change."""
        with self._reading():
            seq = self.store.last_seq()
            state = self._kept_state()
        return seq, state.hexdigest(), state.records

    def digest(self) -> tuple[int, str, int]:
        """``(seq, content digest, records)`` computed afresh from every row held (an audit of ``state``)."""
        state = StateDigest(self.issuer)
        with self._reading():
            seq = self.store.last_seq()
            state.add_many((bytes(lookup_id), bytes(box)) for lookup_id, box in self.store.iter_rows())
        return seq, state.hexdigest(), state.records


def seal_payload(code: str, issuer: str, kdf: KdfParams, plaintext: bytes) -> tuple[bytes, bytes]:
    """Seal an encoded payload under ``code``: ``(lookup_id, box)``.

    Safe on any thread: the KDF releases the GIL, so an import seals on every core.
    """
    keys = derive_record_keys(code, issuer, kdf)
    return keys.lookup_id, seal(plaintext, keys, issuer, os.urandom(NONCE_BYTES))
