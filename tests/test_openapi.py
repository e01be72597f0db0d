"""The OpenAPI document against the app: a valid document, every route in it, and true to what the box answers.

The document is a static file (``appliance/openapi.json``), so nothing keeps it in step
with the code but these tests: the routes are compared both ways, Schemathesis fuzzes the
live server against it, and a few real verdicts and errors are checked against its schemas.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, Response, request, request_finished
from flask.testing import FlaskClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from appliance.datadir import DataDir
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import bearer

OPENAPI_PATH = "/api/v1/openapi.json"
HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})
# Flask answers HEAD and OPTIONS on every route by itself; the document need not list them.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
# `<name>` or `<converter:name>` (with optional converter arguments) in a Flask rule.
FLASK_VARIABLE = re.compile(r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\([^)]*\))?:)?([a-zA-Z_][a-zA-Z0-9_]*)>")
DOCUMENT_URI = "urn:sehat:openapi"

SCHEMATHESIS_CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)
SCHEMATHESIS_MAX_EXAMPLES = 50
SCHEMATHESIS_SEED = 20261123


# --- helpers -------------------------------------------------------------------------------------


def openapi_path(rule: str) -> str:
    """A Flask rule as an OpenAPI path: ``/verify/<path:code>`` → ``/verify/{code}``."""
    return FLASK_VARIABLE.sub(r"{\1}", rule)


def app_operations(app: Flask) -> set[tuple[str, str]]:
    """Every (OpenAPI path, lower-case method) the app routes, without static files, HEAD or OPTIONS."""
    operations: set[tuple[str, str]] = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in (rule.methods or set()) - IMPLICIT_METHODS:
            operations.add((openapi_path(rule.rule), method.lower()))
    return operations


def documented_operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    """Every (path, method) the document's ``paths`` describe."""
    return {(path, method) for path, item in document["paths"].items() for method in item if method in HTTP_METHODS}


def schema_validator(document: dict[str, Any], pointer: str) -> Draft202012Validator:
    """A Draft 2020-12 validator for the schema at ``pointer`` in the document, ``$ref``s resolved within it."""
    registry: Registry[Any] = Registry().with_resource(
        DOCUMENT_URI, Resource.from_contents(document, default_specification=DRAFT202012)
    )
    return Draft202012Validator(
        {"$ref": f"{DOCUMENT_URI}#{pointer}"},
        registry=registry,
        format_checker=Draft202012Validator.FORMAT_CHECKER,
    )


def component(name: str) -> str:
    return f"/components/schemas/{name}"


def response_schema(path: str, method: str, status: int) -> str:
    """The JSON pointer of the documented ``application/json`` schema of one response."""
    escaped = path.replace("~", "~0").replace("/", "~1")
    return f"/paths/{escaped}/{method}/responses/{status}/content/application~1json/schema"


def schema_errors(document: dict[str, Any], pointer: str, instance: object) -> list[str]:
    """Why ``instance`` does not match the schema at ``pointer``; empty when it does."""
    return [
        f"{'/'.join(map(str, error.absolute_path)) or '<root>'}: {error.message}"
        for error in schema_validator(document, pointer).iter_errors(instance)
    ]


def assert_matches(document: dict[str, Any], pointer: str, instance: object) -> None:
    errors = schema_errors(document, pointer, instance)
    shown = json.dumps(instance, ensure_ascii=False)
    assert not errors, f"{shown}\ndoes not match #{pointer}:\n" + "\n".join(errors)


# --- fixtures ------------------------------------------------------------------------------------


@pytest.fixture
def document(client: FlaskClient) -> dict[str, Any]:
    """The document as the box serves it."""
    response = client.get(OPENAPI_PATH)
    assert response.status_code == 200
    served: dict[str, Any] = response.get_json()
    return served


@pytest.fixture
def served(app: Flask) -> Iterator[Counter[tuple[str, str, int]]]:
    """Counts the answers the app gives, by (OpenAPI path of the route that matched, method, status)."""
    counts: Counter[tuple[str, str, int]] = Counter()
    lock = threading.Lock()

    def count(sender: Flask, response: Response, **extra: object) -> None:
        rule = request.url_rule
        key = (
            openapi_path(rule.rule) if rule is not None else "<unrouted>",
            request.method.lower(),
            response.status_code,
        )
        with lock:
            counts[key] += 1

    request_finished.connect(count, app, weak=False)
    yield counts
    request_finished.disconnect(count, app)


# --- 1. the document is valid OpenAPI --------------------------------------------------------------


def test_served_document_is_valid_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_served_document_names_the_box_it_was_asked_from(live_box: str) -> None:
    response = requests.get(f"{live_box}{OPENAPI_PATH}", timeout=30)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.json()["servers"] == [{"url": live_box}]


# --- 2. the document and the routes agree, both ways -----------------------------------------------


def test_every_route_of_the_app_is_documented(app: Flask, document: dict[str, Any]) -> None:
    undocumented = app_operations(app) - documented_operations(document)
    assert not undocumented, f"routes missing from openapi.json: {sorted(undocumented)}"


def test_every_documented_operation_is_a_route_of_the_app(app: Flask, document: dict[str, Any]) -> None:
    stale = documented_operations(document) - app_operations(app)
    assert not stale, f"openapi.json documents operations the app does not have: {sorted(stale)}"


def test_route_conversion_handles_flask_converters() -> None:
    assert openapi_path("/api/v1/verify/<path:code>") == "/api/v1/verify/{code}"
    assert openapi_path("/admin/keys/<key_id>/revoke") == "/admin/keys/{key_id}/revoke"
    assert openapi_path("/x/<int(min=1):n>/<string(length=2):s>") == "/x/{n}/{s}"


# --- 3. Schemathesis against the live server -------------------------------------------------------


def test_schemathesis_finds_no_server_error_and_no_answer_that_breaks_the_document(
    live_box: str, document: dict[str, Any], served: Counter[tuple[str, str, int]], tmp_path: Path
) -> None:
    """Every operation (the JSON API and the pages): examples, coverage and fuzzing phases, bounded and seeded.

    The CLI runs in ``tmp_path``, so its ``.hypothesis`` and ``.schemathesis`` directories never land in
    the project, and its example database is off. Its own warnings stay in its output, not in pytest's.
    """
    report_path = tmp_path / "schemathesis-report.json"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{live_box}{OPENAPI_PATH}",
        "--phases=examples,coverage,fuzzing",
        f"--checks={','.join(SCHEMATHESIS_CHECKS)}",
        f"--max-examples={SCHEMATHESIS_MAX_EXAMPLES}",
        f"--seed={SCHEMATHESIS_SEED}",
        "--generation-database=none",
        "--continue-on-failure",
        "--workers=2",
        "--request-timeout=10",
        "--no-color",
        "--report=json",
        f"--report-json-path={report_path}",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=240, check=False)
    output = f"{run.stdout}\n{run.stderr}"
    assert report_path.exists(), output
    report = json.loads(report_path.read_text(encoding="utf-8"))

    # Schemathesis leaves out the operation its schema was loaded from (tests 1 and 2 cover that one).
    fuzzed = documented_operations(document) - {(OPENAPI_PATH, "get")}
    assert report["complete"] and report["stop_reason"] == "completed", output
    assert report["operations"]["selected"] == report["operations"]["tested"] == len(fuzzed), output
    assert report["test_cases"]["generated"] > 0, output
    assert not report["errors"], output
    # It really asked this server: at least one answer per case, and every operation reached.
    assert sum(served.values()) >= report["test_cases"]["generated"]
    unreached = fuzzed - {(path, method) for path, method, _ in served}
    assert not unreached, f"operations Schemathesis never reached: {sorted(unreached)}"
    # A 429 is documented, but would mean the rate limit, not the logic, was tested.
    assert not [key for key in served if key[2] == 429], "raise the test app's rate limits"
    assert not [key for key in served if key[2] >= 500], sorted(served.items())
    assert not report["failures"], output
    assert run.returncode == 0, output


# --- 4. real answers match the documented schemas --------------------------------------------------


@pytest.mark.parametrize(
    "kind", ["valid", "valid_with_national_id", "valid_with_national_id_anonymous", "revoked", "superseded"]
)
def test_verdicts_for_the_synced_codes_match_the_verdict_schema(
    client: FlaskClient, document: dict[str, Any], synced: DemoCodes, kind: str, box: DataDir, simulator: FeedSimulator
) -> None:
    with_id = {"code": synced.valid, "national_id": synced.valid_national_id}
    body = {
        "valid": {"code": synced.valid},
        "valid_with_national_id": with_id,
        "valid_with_national_id_anonymous": with_id,
        "revoked": {"code": synced.revoked},
        "superseded": {"code": synced.superseded},
    }[kind]
    keyed = kind == "valid_with_national_id"
    headers = bearer(box, simulator.now, national_id_checks=True) if keyed else {}
    response = client.post("/api/v1/verify", json=body, headers=headers)
    assert response.status_code == 200
    verdict = response.get_json()
    assert verdict["status"] == kind.split("_with_")[0]
    if keyed:
        assert verdict["holder"]["national_id_match"] is True
    elif "national_id" in body:  # anonymous: answered, but not compared, and the summary says so
        assert verdict["holder"]["national_id_match"] is None
        assert verdict["summary"]["national_id"] == "not_permitted"
    assert_matches(document, component("Verdict"), verdict)


def test_input_that_is_not_a_code_is_a_422_verdict(client: FlaskClient, document: dict[str, Any]) -> None:
    response = client.post("/api/v1/verify", json={"code": "abc"})
    assert response.status_code == 422
    verdict = response.get_json()
    assert verdict["status"] == "invalid_format"
    assert_matches(document, component("Verdict"), verdict)


def test_a_body_that_is_not_json_is_a_400_error(client: FlaskClient, document: dict[str, Any]) -> None:
    response = client.post("/api/v1/verify", data=b"not json", content_type="application/json")
    assert response.status_code == 400
    assert response.mimetype == "application/json"
    assert_matches(document, component("Error"), response.get_json())


@pytest.mark.parametrize(
    ("method", "path", "url", "body"),
    [
        pytest.param("post", "/api/v1/verify", "/api/v1/verify", {"code": "1" * 20, "national_id": "123"}, id="post"),
        pytest.param(
            "get", "/api/v1/verify/{code}", "/api/v1/verify/" + "1" * 20 + "?national_id=123", None, id="link"
        ),
    ],
)
def test_an_invalid_national_id_answer_matches_the_documented_422(
    client: FlaskClient, document: dict[str, Any], method: str, path: str, url: str, body: object
) -> None:
    """The document's 422 says "not a code, or the national ID is not valid" — both in the one schema."""
    response = client.open(url, method=method.upper(), json=body)
    assert response.status_code == 422
    assert_matches(document, response_schema(path, method, 422), response.get_json())


@pytest.mark.parametrize(
    "raw", ["{code}%0A", "{code}%0D%0A", "1234%0A5678"], ids=["lf-after", "crlf-after", "lf-inside"]
)
def test_a_link_whose_code_holds_a_line_break_gets_a_documented_answer(
    client: FlaskClient, document: dict[str, Any], synced: DemoCodes, raw: str
) -> None:
    """The link's ``code`` is any string of 1 to 2048 characters; a line break in it is input like any other."""
    response = client.get("/api/v1/verify/" + raw.format(code=synced.valid))
    documented = document["paths"]["/api/v1/verify/{code}"]["get"]["responses"]
    assert str(response.status_code) in documented, f"{response.status} {response.get_data(as_text=True)}"
    pointer = response_schema("/api/v1/verify/{code}", "get", response.status_code)
    assert_matches(document, pointer, response.get_json())
