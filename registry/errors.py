"""What a registry operator can get wrong, as named errors with bilingual messages.

The tree (under ``verifier.errors.OperatorError``)::

    RegistryError
    ├── ImportRejectedError   a CSV file with bad rows; nothing of it was imported
    ├── WeakCodesError        the codes a CSV file supplies look non-random; nothing was imported
    ├── ImportChangedError    the CSV file changed while it was being imported
    ├── ImportBusyError       another process is importing the same file right now
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

    def __init__(self, problems: list[RowProblem], omitted: int = 0) -> None:
        """``problems`` as found, in line order; ``omitted`` more were counted but not kept (a huge bad file)."""
        total = len(problems) + omitted
        shown = "; ".join(f"line {problem.line}: {problem.message}" for problem in problems[:20])
        listed = min(len(problems), 20)
        more = f" (and {total - listed} more)" if total > listed else ""
        super().__init__(
            f"Import refused, nothing was imported. {shown}{more}",
            f"ورود داده‌ها انجام نشد و هیچ ردیفی وارد نشد. {total} ردیف مشکل دارد؛ {shown}{more}",
        )
        self.problems = problems
        self.omitted = omitted


class WeakCodesError(RegistryError):
    """Supplied codes estimated below the randomness the privacy bound assumes (``.bits``, ``.kdf_cost``)."""

    code = "weak_codes"

    def __init__(self, bits: float, reason: str, minimum: int, kdf_cost: int) -> None:
        limit = 17  # the highest log2_n boxes accept (docs/protocol.md §4)
        restore = (
            f"--kdf-cost {kdf_cost} (sehat registry init) restores the bound"
            if kdf_cost <= limit
            else f"no --kdf-cost boxes accept restores the bound (it would take {kdf_cost}, boxes allow up to {limit})"
        )
        super().__init__(
            f"Import refused, nothing was imported: the supplied codes seem to carry about {bits:.1f} random bits "
            f"({reason}), below the {minimum} the privacy bound assumes (docs/protocol.md §4.2). {restore}. "
            "To import them anyway and record the estimate in the signed profile, add --accept-weak-codes.",
            f"ورود داده‌ها انجام نشد: کدهای داده‌شده حدود {bits:.1f} بیت تصادفی دارند، کمتر از {minimum} بیتی که "
            f"حد حریم خصوصی فرض می‌کند. {restore}. برای ورود با ثبت این برآورد در نمایه امضاشده، "
            "--accept-weak-codes را بیفزایید.",
        )
        self.bits = bits
        self.kdf_cost = kdf_cost


class ImportChangedError(RegistryError):
    """The file read differently from one pass to the next: someone is still writing it."""

    code = "import_changed"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"{path} changed while it was being imported; let it be written completely, then import it again. "
            "Rows imported so far stay imported.",
            f"فایل {path} در حین ورود داده‌ها تغییر کرد؛ بگذارید نوشتن آن تمام شود و دوباره واردش کنید. "
            "ردیف‌هایی که تا کنون وارد شده‌اند باقی می‌مانند.",
        )


class ImportBusyError(RegistryError):
    """Two processes import the same file: the later one stops rather than import rows twice."""

    code = "import_busy"

    def __init__(self, path: str) -> None:
        super().__init__(
            f"Another process is importing {path} into this registry right now; let it finish.",
            f"فرایند دیگری هم‌اکنون فایل {path} را در این مخزن وارد می‌کند؛ بگذارید تمام شود.",
        )


class UnknownCodeError(RegistryError):
    code = "unknown_code"

    def __init__(self) -> None:
        super().__init__("No record has this code.", "رکوردی با این کد وجود ندارد.")


class RecordStateError(RegistryError):
    code = "record_state"
