"""The status document shared by ``sehat status --json`` and ``GET /api/v1/status``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from appliance.replica import Replica
from verifier.canonical import format_timestamp


def _stamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) if moment else None


def status_document(replica: Replica, now: datetime, *, recompute_digests: bool = False) -> dict[str, Any]:
    """Per issuer: seq, digest, records, as-of, expiry, staleness, last attempt and error.

    Args:
        recompute_digests: compute each digest from the rows now (the operator's
            ``sehat status``); otherwise use the digest checked when the rows were applied.
    """
    floor = replica.clock_floor()
    judged = now  # IssuerState.is_stale judges each issuer at its own clock floor
    issuers = []
    with replica.reading():
        for state in replica.issuer_states():
            digest, records = (
                replica.compute_digest(state.issuer) if recompute_digests else (state.digest, state.records)
            )
            issuers.append(
                {
                    "issuer": state.issuer,
                    "name_fa": state.anchor.name_fa,
                    "name_en": state.anchor.name_en,
                    "seq": state.seq,
                    "digest": digest,
                    "records": records,
                    "as_of": _stamp(state.as_of),
                    "expires": _stamp(state.expires),
                    "stale": state.is_stale(judged),
                    "last_attempt": _stamp(state.last_attempt),
                    "last_error": state.last_error,
                    "last_success": _stamp(state.last_success),
                    "feed_url": state.feed_url,
                }
            )
    return {
        "issuers": issuers,
        "clock": {"now": format_timestamp(now), "floor": _stamp(floor), "behind": floor is not None and now < floor},
    }
