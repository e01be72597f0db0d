"""Every UI string goes through the catalogues, and Persian has them all."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = sorted((ROOT / "appliance" / "templates").rglob("*.html"))
PERSIAN_CATALOGUE = ROOT / "appliance" / "translations" / "fa" / "LC_MESSAGES" / "messages.po"
LETTERS = re.compile(r"[A-Za-z\u0600-\u06FF]{2,}")
# Words a template may show as they are: the names of the two languages in the switch.
UNTRANSLATED_ALLOWED = {"English", "فارسی"}


def visible_text(template: str) -> str:
    """The text a template shows that does not come from an expression: tags, comments and code removed."""
    text = re.sub(r"{#.*?#}", " ", template, flags=re.S)
    text = re.sub(r"{%.*?%}", " ", text, flags=re.S)
    text = re.sub(r"{{.*?}}", " ", text, flags=re.S)
    text = re.sub(r"<(script|style|svg|code)\b.*?</\1>", " ", text, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text, flags=re.S)
    return text


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda path: path.name)
def test_templates_show_no_text_outside_the_catalogues(template: Path) -> None:
    words = set(LETTERS.findall(visible_text(template.read_text(encoding="utf-8")))) - UNTRANSLATED_ALLOWED
    assert not words, f"{template.name} shows text not wrapped in _(): {sorted(words)[:10]}"


def test_the_persian_catalogue_has_no_untranslated_entry() -> None:
    with PERSIAN_CATALOGUE.open("rb") as handle:
        catalogue = read_po(handle, locale="fa")
    missing = [message.id for message in catalogue if message.id and not message.string]
    assert not missing, missing[:10]


def test_the_compiled_persian_catalogue_is_current() -> None:
    compiled = PERSIAN_CATALOGUE.with_suffix(".mo")
    assert compiled.stat().st_mtime >= PERSIAN_CATALOGUE.stat().st_mtime - 1, "run make i18n"
