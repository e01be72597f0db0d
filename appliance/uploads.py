"""Uploaded files stay in memory: a diploma photo or an HR spreadsheet names people.

Werkzeug spools uploads larger than 500 KiB to temporary files on disk; here every
upload is held in memory instead (bounded by ``max_body_bytes``), so nothing a person
uploads is ever written to the box's disk in the clear.
"""

from __future__ import annotations

import io
from typing import IO

from flask import Request, request

from appliance.scanning.errors import EmptyUploadError, UploadTooLargeError
from appliance.store import app_config

# Room for the multipart envelope around the file itself.
MULTIPART_OVERHEAD = 64 << 10


class InMemoryUploadRequest(Request):
    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        return io.BytesIO()


def read_upload(field: str) -> bytes:
    """One uploaded file to scan, refused before it is read when the request announces more than the limit."""
    limit = app_config().scan_max_bytes
    if request.content_length is not None and request.content_length > limit + MULTIPART_OVERHEAD:
        raise UploadTooLargeError(limit)
    upload = request.files.get(field)
    if upload is None:
        raise EmptyUploadError(
            f"Send the photo or PDF as the multipart field '{field}'.",
            f"عکس یا فایل PDF را در فیلد چندبخشی «{field}» بفرستید.",
        )
    return upload.read(limit + 1)
