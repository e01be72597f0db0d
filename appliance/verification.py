"""The one verification function every channel uses: raw input in, verdict out.

normalise → one memory-hard derivation per KDF cost among the trusted issuers (the
issuer enters only after it) → each issuer's lookup id → look it up in the replica →
open the sealed payload and read it by the issuer's catalogue → the verdict, "as of"
the replica's data. The
kiosk, the JSON API, bulk files and the command line all call ``Verifier.verify``,
so they cannot disagree.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from appliance.clock import Clock
from appliance.replica import IssuerState, Replica
from verifier.errors import InvalidFormatError
from verifier.national_id import normalize_national_id
from verifier.normalize import normalize_code
from verifier.records import RecordPayload
from verifier.sealing import KdfParams, RecordKeys, derive_master, issuer_keys, unseal
from verifier.verdict import (
    IssuerInfo,
    ReplicaInfo,
    Verdict,
    verdict_for_record,
    verdict_invalid_format,
    verdict_not_found,
)

logger = logging.getLogger(__name__)
_GRAVITY = {"valid": 0, "superseded": 1, "revoked": 2}


@dataclass(frozen=True)
class Outcome:
    """A verdict and what the audit log records of it: the issuer and lookup id, never the code."""

    verdict: Verdict
    issuer: str | None
    lookup_id: str | None
    national_id_note: str | None = None  # why a national ID given was not compared (appliance.national_id_notes)


class Verifier:
    """Answers "is this code real?" from one replica."""

    def __init__(self, replica: Replica, clock: Clock) -> None:
        self.replica = replica
        self.clock = clock

    def verify(self, raw_code: str, national_id: str | None = None) -> Outcome:
        """Verify a typed, pasted or scanned code.

        Args:
            raw_code: the input as given (any digit system, separators, or a link).
            national_id: the national ID the asker typed, to compare with the record.

        Returns:
            The verdict; ``invalid_format`` for input that is not a code.

        Raises:
            InvalidNationalIdError: ``national_id`` was given and is not a valid national ID.
        """
        now = self.clock()
        asked_id = normalize_national_id(national_id) if national_id else None
        states = [state for state in self.replica.issuer_states() if state.profile is not None]
        schemes = sorted({state.profile.check_digits for state in states if state.profile}) or ["none"]
        try:
            code = normalize_code(raw_code, schemes)
        except InvalidFormatError as error:
            return Outcome(verdict_invalid_format(error, now), None, None)
        masters: dict[KdfParams, bytes] = {}
        keys: dict[str, RecordKeys] = {}
        for state in states:
            assert state.profile is not None
            kdf = state.profile.kdf
            if kdf not in masters:
                masters[kdf] = derive_master(code, kdf)
            keys[state.issuer] = issuer_keys(masters[kdf], state.issuer)
        judged = now  # IssuerState.is_stale judges each issuer at its own clock floor
        with self.replica.reading():
            current = {state.issuer: state for state in self.replica.issuer_states()}
            found: list[tuple[str, RecordKeys, RecordPayload]] = []
            for issuer, record_keys in keys.items():
                box = self.replica.lookup(issuer, record_keys.lookup_id)
                if box is not None:
                    plaintext = unseal(box, record_keys, issuer)
                    found.append(
                        (issuer, record_keys, RecordPayload.from_bytes(plaintext, self.replica.catalogue(issuer)))
                    )
            if found:
                # Codes are unique across the country; should two issuers ever hold the same one,
                # the graver record wins, so one issuer's "valid" can never hide another's revocation.
                issuer, record_keys, payload = max(found, key=lambda match: _GRAVITY[match[2].status])
                if len(found) > 1:
                    logger.warning("a code is held by %d issuers; answering from %s", len(found), issuer)
                state = current[issuer]
                verdict = verdict_for_record(
                    code,
                    payload,
                    IssuerInfo(issuer, state.anchor.name_fa or issuer, state.anchor.name_en or issuer),
                    ReplicaInfo(seq=state.seq, as_of=state.as_of, stale=state.is_stale(judged)),
                    now,
                    asked_id,
                )
                return Outcome(verdict, issuer, record_keys.lookup_id.hex())
            replica = _combined_replica_info(list(current.values()), judged)
        first = next(iter(keys.items()), None)
        return Outcome(
            verdict_not_found(code, replica, now),
            first[0] if first else None,
            first[1].lookup_id.hex() if first else None,
        )


def replica_freshness(replica: Replica, now: datetime) -> ReplicaInfo:
    """How current the box's data is as a whole: as of its least current issuer; stale if any issuer is."""
    with replica.reading():
        states = replica.issuer_states()
        judged = now  # IssuerState.is_stale judges each issuer at its own clock floor
    return _combined_replica_info(states, judged)


def _combined_replica_info(states: list[IssuerState], now: datetime) -> ReplicaInfo:
    """For a code found under no issuer: as of the least current data held, stale if any issuer is.

    An issuer that never synced makes the answer stale, not "no data": the box still
    answers from the others. Only a box with no issuer's data at all has ``as_of`` None.
    """
    synced = [state for state in states if state.as_of is not None]
    if not synced:
        return ReplicaInfo(seq=0, as_of=None, stale=True)
    oldest = min(synced, key=lambda state: state.as_of or now)
    return ReplicaInfo(seq=oldest.seq, as_of=oldest.as_of, stale=any(state.is_stale(now) for state in states))
