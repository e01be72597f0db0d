"""An issuer's catalogue: the public names its sealed payloads refer to by number.

Degree levels, fields of study and institutions are not personal data, and a
registry of millions repeats a few thousand of them. Spelled out in every sealed
payload they were most of the feed's bytes; instead each issuer publishes them
once, as one content-addressed object the signed head lists, and a payload holds
their positions. The lists only grow: an entry keeps its position for ever, so a
newer catalogue still reads every payload sealed under an older one, and a box
accepts a catalogue only if it extends the one it holds.

File (canonical JSON, one object)::

    {"degree_levels":[..],"fields":[..],"format":2,"institutions":[..],
     "issuer":"msrt","type":"sehat/catalogue"}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from verifier.canonical import canonical_json, parse_json_object, require, require_fields
from verifier.errors import MalformedObjectError, WrongIssuerError

CATALOGUE_TYPE = "sehat/catalogue"
CATALOGUE_FORMAT = 2
KINDS: tuple[str, ...] = ("degree_levels", "fields", "institutions")
MAX_NAME_CHARS = 300  # as the registry's import allows for one field


@dataclass(frozen=True)
class Catalogue:
    """The names an issuer's payloads refer to, by kind and position."""

    issuer: str
    degree_levels: tuple[str, ...] = ()
    fields: tuple[str, ...] = ()
    institutions: tuple[str, ...] = ()

    def names(self, kind: str) -> tuple[str, ...]:
        if kind not in KINDS:
            raise ValueError(f"unknown catalogue kind {kind!r}")
        names: tuple[str, ...] = getattr(self, kind)
        return names

    def name(self, kind: str, position: int, object_name: str = "record payload") -> str:
        """The name at ``position``; a position past the end is a malformed payload."""
        names = self.names(kind)
        if not 0 <= position < len(names):
            raise MalformedObjectError(object_name, f"refers to {kind} entry {position}, which the catalogue lacks")
        return names[position]

    @property
    def entries(self) -> int:
        return sum(len(self.names(kind)) for kind in KINDS)

    def extends(self, older: Catalogue) -> bool:
        """Tell whether every entry of ``older`` keeps its position here."""
        return self.issuer == older.issuer and all(
            self.names(kind)[: len(older.names(kind))] == older.names(kind) for kind in KINDS
        )

    def to_bytes(self) -> bytes:
        fields: dict[str, Any] = {
            "type": CATALOGUE_TYPE,
            "format": CATALOGUE_FORMAT,
            "issuer": self.issuer,
            **{kind: list(self.names(kind)) for kind in KINDS},
        }
        return canonical_json(fields)

    @classmethod
    def from_bytes(cls, data: bytes, issuer: str, object_name: str = "catalogue") -> Catalogue:
        """Parse a catalogue whose size and hash were already checked.

        Raises:
            MalformedObjectError, WrongIssuerError.
        """
        fields = parse_json_object(data, object_name)
        require_fields(fields, {"type", "format", "issuer", *KINDS}, object_name)
        if fields["type"] != CATALOGUE_TYPE or fields["format"] != CATALOGUE_FORMAT:
            raise MalformedObjectError(object_name, "not a catalogue of a known format")
        if require(fields, "issuer", str, object_name) != issuer:
            raise WrongIssuerError(object_name, f"belongs to issuer {fields['issuer']!r}")
        lists: dict[str, tuple[str, ...]] = {}
        for kind in KINDS:
            names = require(fields, kind, list, object_name)
            if not all(isinstance(name, str) and 0 < len(name) <= MAX_NAME_CHARS for name in names):
                raise MalformedObjectError(object_name, f"{kind} holds an entry that is not a short text")
            lists[kind] = tuple(names)
        return cls(issuer=issuer, **lists)
