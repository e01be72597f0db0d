"""Files of codes are charged by their rows and take turns, so a file can neither flood nor starve the box."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from appliance.datadir import DataDir
from appliance.verification_budget import EXTENSION, BulkSlots
from tests.conftest import DemoCodes
from tests.support.simulator import FeedSimulator
from tests.support.web import bearer

DEFAULTS = {
    "anonymous_bulk_max_rows": 0,
    "anonymous_file_rate_limit": "5000 per hour",
    "bulk_rate_limit": "20000 per hour",
}


def csv_of(codes: list[str]) -> bytes:
    return ("code\n" + "\n".join(codes) + "\n").encode()


@pytest.fixture
def defaults(make_app: Callable[..., Flask], synced: DemoCodes) -> Flask:
    return make_app(**DEFAULTS)


def error_of(response: object) -> dict[str, object]:
    body = response.get_json()  # type: ignore[attr-defined]
    assert isinstance(body, dict)
    error = body["error"]
    assert isinstance(error, dict) and error["message"] and error["message_fa"]
    return error


def test_an_anonymous_api_file_is_refused_by_default_in_both_languages(defaults: Flask, synced: DemoCodes) -> None:
    response = defaults.test_client().post("/api/v1/verify/bulk", data=csv_of([synced.valid]))
    assert response.status_code == 403
    assert error_of(response)["code"] == "bulk_needs_key"


def test_a_keyed_file_is_checked(defaults: Flask, synced: DemoCodes, box: DataDir, simulator: FeedSimulator) -> None:
    key = bearer(box, simulator.now)
    response = defaults.test_client().post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 3), headers=key)
    assert response.status_code == 200
    assert response.get_data(as_text=True).count("\n") == 4


def test_rows_are_charged_so_a_second_file_over_the_quota_waits(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client = make_app(**{**DEFAULTS, "bulk_rate_limit": "10 per hour"}).test_client()
    key = bearer(box, simulator.now)
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 6), headers=key).status_code == 200
    refused = client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 6), headers=key)
    assert refused.status_code == 429
    assert error_of(refused)["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 4), headers=key).status_code == 200


def test_each_key_has_its_own_quota(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client = make_app(**{**DEFAULTS, "bulk_rate_limit": "5 per hour"}).test_client()
    first, second = bearer(box, simulator.now), bearer(box, simulator.now)
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 5), headers=first).status_code == 200
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 5), headers=second).status_code == 200


def test_a_file_larger_than_the_whole_quota_is_too_large(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client = make_app(**{**DEFAULTS, "bulk_rate_limit": "5 per hour"}).test_client()
    response = client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 6), headers=bearer(box, simulator.now))
    assert response.status_code == 413


def test_anonymous_files_can_be_allowed_up_to_a_small_size(make_app: Callable[..., Flask], synced: DemoCodes) -> None:
    client = make_app(**{**DEFAULTS, "anonymous_bulk_max_rows": 5}).test_client()
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 5)).status_code == 200
    response = client.post("/api/v1/verify/bulk", data=csv_of([synced.valid] * 6))
    assert response.status_code == 403 and error_of(response)["code"] == "bulk_too_large"


def test_rows_that_are_not_codes_are_charged_too(
    make_app: Callable[..., Flask], synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client = make_app(**{**DEFAULTS, "bulk_rate_limit": "10 per hour"}).test_client()
    key = bearer(box, simulator.now)
    assert client.post("/api/v1/verify/bulk", data=csv_of(["junk"] * 10), headers=key).status_code == 200
    assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid]), headers=key).status_code == 429


def test_a_file_arriving_while_every_slot_is_busy_is_told_to_retry(
    defaults: Flask, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    slots: BulkSlots = defaults.extensions[EXTENSION]
    with slots.taken_now():
        response = defaults.test_client().post(
            "/api/v1/verify/bulk", data=csv_of([synced.valid]), headers=bearer(box, simulator.now)
        )
    assert response.status_code == 503
    assert error_of(response)["code"] == "busy"
    assert response.get_json()["retry_after"] == 5 and int(response.headers["Retry-After"]) >= 5


def test_the_slot_is_given_back_when_the_answer_is_sent(
    defaults: Flask, synced: DemoCodes, box: DataDir, simulator: FeedSimulator
) -> None:
    client: FlaskClient = defaults.test_client()
    key = bearer(box, simulator.now)
    for _ in range(3):
        assert client.post("/api/v1/verify/bulk", data=csv_of([synced.valid]), headers=key).status_code == 200
    slots: BulkSlots = defaults.extensions[EXTENSION]
    with slots.taken_now():
        pass
