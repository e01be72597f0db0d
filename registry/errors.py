"""What a registry operator can get wrong, as named errors with bilingual messages.

The tree (under ``verifier.errors.OperatorError``)::

    RegistryError
    ├── ImportRejectedError   a CSV file with bad rows; nothing of it was imported
    ├── UnknownCodeError      no record with this code
    └── RecordStateError      the change does not fit the record's state
"""

from __future__ import annotations

from dataclasses import dataclass

from verifier.errors import OperatorError


class RegistryError(OperatorError):
    code = "registry_error"


@dataclass(frozen=True)
class RowProblem:
    """One bad row of an import: its line number in the file and what is wrong."""

    line: int
    message: str


class ImportRejectedError(RegistryError):
    code = "import_rejected"

    def __init__(self, problems: list[RowProblem]) -> None:
        shown = "; ".join(f"line {problem.line}: {problem.message}" for problem in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        super().__init__(
            f"Import refused, nothing was imported. {shown}{more}",
            f"ورود داده‌ها انجام نشد و هیچ ردیفی وارد نشد. {len(problems)} ردیف مشکل دارد؛ {shown}{more}",
        )
        self.problems = problems


class UnknownCodeError(RegistryError):
    code = "unknown_code"

    def __init__(self) -> None:
        super().__init__("No record has this code.", "رکوردی با این کد وجود ندارد.")


class RecordStateError(RegistryError):
    code = "record_state"
