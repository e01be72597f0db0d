"""Time as a box judges a head by: the clock floor, the time of judgement, lifetime caps.

A box's clock may be wrong (a dead RTC battery, an operator's typo) and a signing
key may be stolen, and neither may freeze or brick the box. The rules, all pure:

- Each issuer has its own **clock floor**: the ``issued_at`` of the newest head the
  box accepted from it under its current signing-key version. One issuer's heads
  never move another's floor, and a head certified by a newer key version is not
  bound by the retired key's floor — rotation recovers a floor a stolen key dragged.
- A head is **judged** (expired or not, stale or not) at the later of the box's
  clock and that floor, so a clock set back cannot make expired data look fresh.
- A head may claim to be issued at most ``max_clock_skew`` after the later of the
  clock and the floor — never skipped, so no chain of heads can drag the floor more
  than a day per head.
- A head may live (``expires − issued_at``) at most the cap of the channel it was
  made for, and a head made for a USB bundle is refused over HTTP.
"""

from __future__ import annotations

from datetime import datetime

from verifier.canonical import format_timestamp
from verifier.errors import FutureHeadError, OverlongHeadError, WrongChannelError
from verifier.limits import DEFAULT_LIMITS, FeedLimits

HTTP_CHANNEL = "http"
BUNDLE_CHANNEL = "bundle"
CHANNELS = (HTTP_CHANNEL, BUNDLE_CHANNEL)
_NAME = "head"


def judging_time(clock: datetime, floor: datetime | None) -> datetime:
    """The time to judge an issuer's heads by: the box's clock, never earlier than its floor."""
    return clock if floor is None or clock >= floor else floor


def is_stale(expires: datetime | None, clock: datetime, floor: datetime | None) -> bool:
    """Stale unless there is an expiry and the judging time has not reached it."""
    return expires is None or judging_time(clock, floor) >= expires


def floor_for(floor: datetime | None, floor_key_version: int, key_version: int) -> datetime | None:
    """The floor that binds a head certified by ``key_version``: a retired key's floor does not.

    Args:
        floor: the issuer's clock floor, set by heads of ``floor_key_version``.
        floor_key_version: the signing-key version whose heads set ``floor``.
        key_version: the version certifying the head being judged.
    """
    return floor if key_version <= floor_key_version else None


def check_issued_at(
    issued_at: datetime, clock: datetime, floor: datetime | None, limits: FeedLimits = DEFAULT_LIMITS
) -> None:
    """Refuse a head issued implausibly far ahead of the box's time.

    Raises:
        FutureHeadError: ``issued_at`` is more than ``limits.max_clock_skew`` after the
            later of ``clock`` and ``floor``.
    """
    if issued_at > judging_time(clock, floor) + limits.max_clock_skew:
        raise FutureHeadError(
            _NAME, f"issued at {format_timestamp(issued_at)}, more than a day ahead of this box's clock"
        )


def check_lifetime(
    issued_at: datetime,
    expires: datetime,
    made_for: str | None,
    arrived_by: str | None,
    limits: FeedLimits = DEFAULT_LIMITS,
) -> None:
    """Refuse a head that lives too long for its channel, or came by the wrong one.

    Args:
        made_for: the channel the head says (signed) it was made for; ``None`` for a
            head of the first format, which did not say — it is held to the cap of
            the channel it ``arrived_by``.
        arrived_by: the channel it came by (``None``: not known, the caller checks only the cap).

    Raises:
        WrongChannelError: a bundle head that arrived over HTTP.
        OverlongHeadError: ``expires − issued_at`` exceeds the channel's cap.
    """
    if arrived_by == HTTP_CHANNEL and made_for == BUNDLE_CHANNEL:
        raise WrongChannelError(_NAME, "made for a USB bundle, not to be served over HTTP")
    channel = made_for or arrived_by or BUNDLE_CHANNEL
    cap = limits.max_head_lifetime(channel)
    if expires - issued_at > cap:
        raise OverlongHeadError(
            _NAME, f"valid for {expires - issued_at}, longer than the {cap} a {channel} head may be"
        )
