"""Transport errors: the feed could not be fetched (as opposed to fetched and found wrong).

The tree (under ``verifier.errors.SehatError``; untrusted-data errors are ``verifier.errors.FeedError``)::

    DownloadError            the feed could not be fetched; the next attempt may succeed
    ├── NetworkError         connection refused, reset, timed out
    ├── HttpStatusError      the server answered with an error status (``status_code``)
    ├── SlowRetrievalError   the transfer was slower than the minimum rate
    └── MissingObjectError   an offline bundle does not carry an object the update needs
"""

from __future__ import annotations

from verifier.errors import SehatError


class DownloadError(SehatError):
    code = "download_failed"

    def __init__(self, message: str, message_fa: str | None = None) -> None:
        super().__init__(message, message_fa or f"دریافت به‌روزرسانی انجام نشد: {message}")


class NetworkError(DownloadError):
    code = "network"


class HttpStatusError(DownloadError):
    code = "http_status"

    def __init__(self, url: str, status_code: int) -> None:
        super().__init__(f"{url} answered HTTP {status_code}")
        self.status_code = status_code


class SlowRetrievalError(DownloadError):
    code = "slow_retrieval"


class MissingObjectError(DownloadError):
    code = "missing_object"
