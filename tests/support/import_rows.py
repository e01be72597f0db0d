"""Hand-written import rows for tests that need specific holders and documents."""

from __future__ import annotations

HEADER = "code,national_id,full_name,document_type,degree_level,field,institution,issued_on\n"
GOOD_ROW = ",0499370899,سارا احمدی,diploma,کارشناسی,مهندسی کامپیوتر,دانشگاه تهران,2023-09-21\n"
PROVISIONAL = ",0499370899,سارا احمدی,provisional,کارشناسی,فیزیک,دانشگاه تهران,2022-09-21\n"
DIPLOMA = ",0499370899,سارا احمدی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n"
OTHER_HOLDER = ",0084575948,مریم رضایی,diploma,کارشناسی,فیزیک,دانشگاه تهران,2023-09-21\n"


def make_csv(*rows: str, header: str = HEADER) -> bytes:
    """An import file: the header and ``rows`` (each a CSV line with its newline)."""
    return (header + "".join(rows)).encode("utf-8")
