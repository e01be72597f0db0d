"""A static HTTP server for a published feed directory, for demos, tests and small sites.

Production feeds are best served by any static server, CDN or object store; this
one behaves like them where boxes rely on it: strong ETags and conditional
requests, byte ranges for resumed downloads, a short cache lifetime for the head
and an immutable one for content-addressed objects.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask, Response, abort, send_from_directory

from verifier.objects import HEAD_PATH, is_object_path

HEAD_MAX_AGE = 60  # seconds; the head changes on every re-sign
OBJECT_MAX_AGE = 365 * 24 * 3600  # seconds; objects never change under their address


def create_feed_app(feed_dir: Path) -> Flask:
    """A WSGI app that serves ``feed_dir``'s head and objects, nothing else."""
    app = Flask(__name__)
    root = feed_dir.resolve()

    @app.get("/" + HEAD_PATH)
    def head() -> Response:
        response = send_from_directory(root, HEAD_PATH, conditional=True, etag=True, max_age=HEAD_MAX_AGE)
        response.headers["Cache-Control"] = f"public, max-age={HEAD_MAX_AGE}, must-revalidate"
        return response

    @app.get("/<path:path>")
    def feed_object(path: str) -> Response:
        if not is_object_path(path):
            abort(404)
        sha256 = path.rsplit("/", 1)[1].split(".", 1)[0]
        # The content address is the strongest possible ETag, and the same on every mirror.
        response = send_from_directory(root, path, conditional=True, etag=sha256, max_age=OBJECT_MAX_AGE)
        response.headers["Cache-Control"] = f"public, max-age={OBJECT_MAX_AGE}, immutable"
        return response

    return app
