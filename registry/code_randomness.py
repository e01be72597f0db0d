"""How much randomness codes supplied by an issuer seem to carry: an estimate, said out loud.

The privacy bound of sealed records (docs/protocol.md §4.1) assumes at least 60 random
bits per code. Codes the registry issues have them; codes moved over from an existing
system may not — dates, institution prefixes and serial numbers are common. This module
looks at a batch of supplied codes and estimates, conservatively, the randomness of the
weakest of them. It can prove weakness, never strength: structure it does not look for
goes unseen. The estimate (docs/protocol.md §4.2) is the least of:

- **per-position entropy**: Σ over the random digits of the empirical Shannon entropy of
  each position (Miller–Madow corrected, at most log2 10) — constant or skewed positions.
  With fewer than ``_SAMPLE_FOR_ENTROPY`` codes only a constant position is judged (0 bits),
  and with fewer than ``_SAMPLE_FOR_STRUCTURE`` not even that (random codes agree by chance).
- **shared prefixes**: for every prefix length k at which the codes share few distinct
  prefixes (each seen ``_PREFIX_REPEATS`` times on average), the entropy of the prefix
  distribution plus the per-position entropy after it — correlated positions
  (an institution's code) counted once.
- **sequences**: log2 of the numeric range the codes span, scaled by (n + 1)/(n − 1) as
  for the range of n uniform draws — serial numbers, however scattered their low digits look.
- **patterned codes**: a code with a run of ``_PATTERN_RUN`` or more equal, ascending or
  descending digits (a random code has one with odds of about 1 in 10⁷) carries no more
  than the bits needed to describe it — and the bound is only as strong as the weakest code.

Pure: codes in, bits out.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from verifier.check_digits import CODE_LENGTH, check_length

DIGIT_BITS = math.log2(10)
_SAMPLE_FOR_ENTROPY = 200  # codes needed before a position's digit distribution is judged
_PREFIX_REPEATS = 5  # a prefix length is judged when prefixes repeat this often on average
_PATTERN_RUN = 12  # digits in a run that marks one code as patterned (random odds: 1 in 10⁹ per code)
_SAMPLE_FOR_STRUCTURE = 8  # codes needed before a constant position or a narrow range is judged


@dataclass(frozen=True)
class RandomnessEstimate:
    """Estimated random bits per code, and which test found the least."""

    bits: float
    reason: str

    @property
    def whole_bits(self) -> int:
        """Rounded down: what the signed profile records (the protocol has no fractions)."""
        return max(0, math.floor(self.bits))


def estimate_code_randomness(codes: Sequence[str], scheme: str) -> RandomnessEstimate:
    """Estimate the random bits in the weakest of ``codes`` (20-digit strings under ``scheme``).

    Args:
        codes: the codes an import supplies (not those the registry issues).
        scheme: the issuer's check-digit scheme; its check digits carry no randomness.

    Returns:
        The estimate; ``bits`` is the body length × log2 10 when no structure is seen.
    """
    body_length = CODE_LENGTH - check_length(scheme)
    bodies = sorted({code[:body_length] for code in codes})
    best = RandomnessEstimate(body_length * DIGIT_BITS, "no structure seen")
    if not bodies:
        return best
    candidates = [best, _patterned(bodies)]
    positions = _position_bits(bodies, body_length)
    candidates.append(RandomnessEstimate(sum(positions), "per-position digit entropy"))
    candidates.append(_shared_prefixes(bodies, positions))
    if len(bodies) >= _SAMPLE_FOR_STRUCTURE:
        span = int(bodies[-1]) - int(bodies[0]) + 1
        scaled = span * (len(bodies) + 1) / (len(bodies) - 1)
        candidates.append(RandomnessEstimate(math.log2(scaled), f"the codes lie in a range of {span} numbers"))
    return min(candidates, key=lambda estimate: estimate.bits)


def patterned_code_estimate(code: str, scheme: str) -> RandomnessEstimate:
    """The patterned-code test alone, on one code: cheap enough to run on every code of a huge import.

    ``estimate_code_randomness`` then sees only a sample of such an import's codes; a single
    patterned code outside the sample still bounds the estimate through this.
    """
    return _patterned([code[: CODE_LENGTH - check_length(scheme)]])


def _position_bits(bodies: list[str], length: int) -> list[float]:
    count = len(bodies)
    bits = []
    for position in range(length):
        digits = Counter(body[position] for body in bodies)
        if count >= _SAMPLE_FOR_STRUCTURE and len(digits) == 1:
            bits.append(0.0)
        elif count < _SAMPLE_FOR_ENTROPY:
            bits.append(DIGIT_BITS)
        else:
            entropy = -sum(seen / count * math.log2(seen / count) for seen in digits.values())
            corrected = entropy + (len(digits) - 1) / (2 * count * math.log(2))
            bits.append(min(DIGIT_BITS, corrected))
    return bits


def _shared_prefixes(bodies: list[str], positions: list[float]) -> RandomnessEstimate:
    count = len(bodies)
    best = RandomnessEstimate(sum(positions), "per-position digit entropy")
    for length in range(1, len(positions) + 1):
        prefixes = Counter(body[:length] for body in bodies)
        if len(prefixes) * _PREFIX_REPEATS > count:
            break
        entropy = -sum(seen / count * math.log2(seen / count) for seen in prefixes.values())
        bits = entropy + (len(prefixes) - 1) / (2 * count * math.log(2))
        bits = min(bits, sum(positions[:length]))
        bits = bits + sum(positions[length:])
        if bits < best.bits:
            best = RandomnessEstimate(bits, f"{len(prefixes)} shared prefixes of {length} digits")
    return best


def _patterned(bodies: list[str]) -> RandomnessEstimate:
    """The least description length of any code with a long run of equal or stepping digits."""
    best = RandomnessEstimate(math.inf, "no patterned code")
    for body in bodies:
        run = _longest_run(body)
        if run >= _PATTERN_RUN:
            # Where the run starts, its first digit and direction, and every digit outside it.
            bits = math.log2(len(body) - run + 1) + DIGIT_BITS + math.log2(3) + (len(body) - run) * DIGIT_BITS
            if bits < best.bits:
                best = RandomnessEstimate(bits, f"a code with a run of {run} patterned digits ({body[:6]}…)")
    return best


def _longest_run(body: str) -> int:
    """The longest stretch of digits that are equal, or each one more (or less) than the last, mod 10."""
    longest = 1
    for step in (0, 1, -1):
        run = 1
        for earlier, later in pairwise(body):
            run = run + 1 if (int(later) - int(earlier)) % 10 == step % 10 else 1
            longest = max(longest, run)
    return longest


def kdf_cost_restoring_bound(bits: float, minimum_bits: int, default_log2_n: int) -> int:
    """The ``--kdf-cost`` (scrypt log2 N) at which codes of ``bits`` cost a guesser what ``minimum_bits`` would.

    Each step of log2 N doubles the cost of a guess, so each missing bit takes one step.
    """
    return default_log2_n + max(0, math.ceil(minimum_bits - bits))
