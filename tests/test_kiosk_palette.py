"""The verdict palette: every finding readable (contrast) and told apart without colour vision."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

from tests.support.colour import SIMULATIONS, contrast, delta_e, parse_hex, simulate
from verifier.verdict import Finding

CSS = (Path(__file__).resolve().parents[1] / "appliance" / "static" / "sehat.css").read_text(encoding="utf-8")
TEMPLATES = Path(__file__).resolve().parents[1] / "appliance" / "templates"
# Apart by at least this much (CIE76 ΔE) under every simulated deficiency: clearly different patches.
MIN_SIMULATED_DIFFERENCE = 20


def variable(name: str) -> str:
    match = re.search(rf"--{re.escape(name)}:\s*(#[0-9a-fA-F]{{6}})", CSS)
    assert match, f"--{name} is not defined in sehat.css"
    return match.group(1)


FINDINGS = [finding.value for finding in Finding]


@pytest.mark.parametrize("finding", FINDINGS)
def test_each_verdict_band_has_text_contrast_of_at_least_4_5(finding: str) -> None:
    background, text = variable(f"finding-{finding}-bg"), variable(f"finding-{finding}-fg")
    assert contrast(parse_hex(background), parse_hex(text)) >= 4.5


@pytest.mark.parametrize("deficiency", sorted(SIMULATIONS))
def test_every_pair_of_findings_stays_apart_without_full_colour_vision(deficiency: str) -> None:
    colours = {finding: parse_hex(variable(f"finding-{finding}-bg")) for finding in FINDINGS}
    for first, second in itertools.combinations(FINDINGS, 2):
        difference = delta_e(simulate(colours[first], deficiency), simulate(colours[second], deficiency))
        assert difference >= MIN_SIMULATED_DIFFERENCE, (first, second, round(difference, 1))


def test_controls_stand_out_from_the_page_by_at_least_3_to_1() -> None:
    for name in ("brand", "line", "focus"):
        assert contrast(parse_hex(variable(name)), parse_hex("#ffffff")) >= 3


def test_each_finding_has_its_own_icon_shape() -> None:
    icons = (TEMPLATES / "_icons.html").read_text(encoding="utf-8")
    shapes = re.findall(r'finding == "(\w+)" %}(.*?){%-', icons, re.S)
    assert {name for name, _ in shapes} >= set(FINDINGS) - {"invalid_format"}
    assert len({shape for _, shape in shapes}) == len(shapes)


def test_the_verdict_headline_is_at_least_48px_on_a_desktop() -> None:
    match = re.search(r"\.verdict \.headline \{[^}]*font-size: ([\d.]+)rem", CSS)
    assert match and float(match.group(1)) * 16 >= 48
