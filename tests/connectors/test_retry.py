"""The one retry policy (connectors/salesforce/retry.py), measured: the requests the CRM receives under faults.

The real client, extract and push run against the simulator over HTTPS (no mocks, no patching) under its request
faults; each test asserts the number of requests per endpoint (`Simulator.calls`) against the bound documented in
retry.py and docs/contracts.md, and the outcome. R = sf_max_retries = 2 here; waits are shortened by the settings.
"""

from __future__ import annotations

import email.utils
import random
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import requests
import trustme

from connectors.salesforce import registry
from connectors.salesforce.client import CrmClient, connect
from connectors.salesforce.errors import SessionExpired, translate
from connectors.salesforce.extract import extract_object
from connectors.salesforce.push import PushInterrupted, create_tasks, push_updates
from connectors.salesforce.retry import Budget, RetryPolicy, retry_after_seconds
from crm_risk.config import Settings, load_settings
from crm_risk.errors import ConnectorError, QuotaExceeded, RecordError, TerminalError, TransientError
from simulator.server import Simulator

R = 2  # sf_max_retries in these tests
ACCOUNTS = 250  # two Collections chunks (200 + 50), two REST pages (200 + 50), three Bulk pages of 100
START = datetime(2000, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Simulator, dict[str, Any]]]:
    """A running simulator over a generated org of ACCOUNTS accounts, plus their ids and a user id."""
    with Simulator(tmp_path_factory.mktemp("retry-org"), accounts=ACCOUNTS, seed=7) as sim:
        accounts = [r["Id"] for r in sim.org.query("SELECT Id FROM Account ORDER BY Id").records(0)]
        users = [r["Id"] for r in sim.org.query("SELECT Id FROM User ORDER BY Id").records(0)]
        assert len(accounts) == ACCOUNTS and users
        yield sim, {"accounts": accounts, "users": users}


@pytest.fixture()
def sim(org: tuple[Simulator, dict[str, Any]]) -> Iterator[Simulator]:
    """The simulator, with fault rules cleared after each test."""
    simulator, _ = org
    simulator.faults.clear()
    yield simulator
    simulator.faults.clear()


@pytest.fixture()
def ids(org: tuple[Simulator, dict[str, Any]]) -> dict[str, Any]:
    return org[1]


def _client(sim: Simulator, tmp_path: Path, **overrides: Any) -> CrmClient:
    base: dict[str, Any] = {
        "sf_connection_file": str(sim.state_dir / "connection.json"),
        "sf_auth": "client_credentials",
        "landing_dir": str(tmp_path / "landing"),
        "sf_max_retries": R,
        "sf_retry_backoff_seconds": 0.01,
        "sf_retry_backoff_max_seconds": 0.05,
        "extract_page_size": 200,
        "extract_chunk_rows": 100,
    }
    return connect(load_settings(**{**base, **overrides}))


class _Calls:
    """Requests the simulator received per endpoint since this was made."""

    def __init__(self, sim: Simulator) -> None:
        self.sim, self.before = sim, dict(sim.calls)

    def __getitem__(self, endpoint: str) -> int:
        return self.sim.calls[endpoint] - self.before.get(endpoint, 0)


def _extract(client: CrmClient, settings: Settings, run_id: str) -> Any:
    client.describe("Account")  # cached; its answer tells the org's clock, which the window must cover
    end = client.server_now() + timedelta(minutes=3)
    landing = Path(settings.landing_dir)
    return extract_object(client, registry.entry("Account"), START, end, landing, run_id, settings)


def _manifest(settings: Settings, run_id: str) -> Path:
    return Path(settings.landing_dir) / run_id / "Account" / "_manifest.json"


# --- extract -------------------------------------------------------------------------------------------------------
# (fault, requests to the faulted endpoint, outcome: None = every row landed, else (error class, code))
FAULTS = [
    pytest.param("503:{ep}", 1 + R, (TransientError, "SERVER_UNAVAILABLE"), id="503-persistent"),
    pytest.param(f"503:{{ep}}:count={R}", 1 + R, None, id="503-clears"),
    pytest.param("500:{ep}", 1 + R, (TransientError, "UNKNOWN_EXCEPTION"), id="500-persistent"),
    pytest.param("drop:{ep}:count=1", 2, None, id="drop-once"),
    pytest.param("drop:{ep}", 1 + R, (TransientError, "NETWORK"), id="drop-persistent"),
    pytest.param("403:{ep}", 1, (QuotaExceeded, "REQUEST_LIMIT_EXCEEDED"), id="quota"),
]


@pytest.mark.parametrize(("fault", "requests_", "outcome"), FAULTS)
def test_rest_query_more_costs_at_most_1_plus_r_requests(
    sim: Simulator, tmp_path: Path, fault: str, requests_: int, outcome: tuple[type, str] | None
) -> None:
    client = _client(sim, tmp_path, extract_bulk_threshold=10**9)
    settings = client.settings
    sim.faults.add(fault.format(ep="queryAll.more"))
    calls = _Calls(sim)
    if outcome is None:
        manifest = _extract(client, settings, "ok")
        assert (manifest.api, manifest.rows) == ("rest", ACCOUNTS)
    else:
        with pytest.raises(outcome[0]) as err:
            _extract(client, settings, "failed")
        assert err.value.code == outcome[1] and "queryMore" in str(err.value)
        assert not _manifest(settings, "failed").exists()  # nothing half-landed is marked complete
    assert calls["queryAll.more"] == requests_
    assert calls["queryAll"] == 2  # COUNT() and the first page: untouched by the fault, never repeated


@pytest.mark.parametrize(("fault", "requests_", "outcome"), FAULTS)
def test_bulk_result_page_costs_at_most_1_plus_r_requests(
    sim: Simulator, tmp_path: Path, fault: str, requests_: int, outcome: tuple[type, str] | None
) -> None:
    client = _client(sim, tmp_path, extract_bulk_threshold=0)
    settings = client.settings
    sim.faults.add(fault.format(ep="bulk2.query.results"))
    calls = _Calls(sim)
    if outcome is None:
        manifest = _extract(client, settings, "ok")
        assert (manifest.api, manifest.rows) == ("bulk2", ACCOUNTS)
        assert calls["bulk2.query.results"] == requests_ - 1 + 3  # the faulted first page, then pages 2 and 3
    elif outcome[0] is TransientError:  # a page failing past the retries: the object is read through REST
        manifest = _extract(client, settings, "fell-back")
        assert (manifest.api, manifest.rows) == ("rest", ACCOUNTS)
        assert any("bulk result page" in n and f"after {R} retries" in n for n in manifest.notes), (
            manifest.notes
        )
        assert calls["bulk2.query.results"] == requests_
    else:
        with pytest.raises(outcome[0]) as err:
            _extract(client, settings, "failed")
        assert err.value.code == outcome[1] and "bulk result page" in str(err.value)
        assert not _manifest(settings, "failed").exists()
        assert calls["bulk2.query.results"] == requests_
    assert calls["bulk2.query.create"] == 1  # the job is never created again because a page failed


@pytest.mark.parametrize(
    "fault",
    ["", "drop:bulk2.query.results:count=2", "503:bulk2.query.results:count=1"],
    ids=["clean", "drop", "503"],
)
def test_bulk_pages_fetched_ahead_land_exactly_the_rows_fetched_one_by_one(
    sim: Simulator, tmp_path: Path, fault: str
) -> None:
    """Result pages downloaded concurrently (locator chaining, extract_bulk_concurrency) land the very rows, in the
    same order, as pages fetched one after another, at the same number of page requests, faulted pages included."""
    landed: dict[int, tuple[Any, int, Any]] = {}
    for ahead in (1, 4):
        client = _client(
            sim,
            tmp_path / f"a{ahead}",
            extract_bulk_threshold=0,
            extract_chunk_rows=1000,
            extract_bulk_concurrency=ahead,
        )
        client.describe("Task")
        end = client.server_now() + timedelta(minutes=3)
        sim.faults.clear()
        if fault:
            sim.faults.add(fault)
        calls = _Calls(sim)
        manifest = extract_object(
            client,
            registry.entry("Task"),
            START,
            end,
            Path(client.settings.landing_dir),
            "ahead",
            client.settings,
        )
        out = Path(client.settings.landing_dir) / "ahead" / "Task"
        table = pa.concat_tables([pq.read_table(out / f) for f in manifest.files])
        landed[ahead] = (table, calls["bulk2.query.results"], manifest)
        assert manifest.api == "bulk2" and manifest.rows == manifest.count_estimate == table.num_rows
    (one, one_calls, one_m), (four, four_calls, _) = landed[1], landed[4]
    pages = -(-one.num_rows // 1000)
    assert pages >= 5  # enough pages for several to be in flight at once
    assert four.column("Id").to_pylist() == one.column("Id").to_pylist()  # the same ids, in the same order
    assert len(set(one.column("Id").to_pylist())) == one.num_rows
    assert four.equals(one)  # and every value
    assert one_calls == four_calls == pages + {"": 0, "drop:bulk2.query.results:count=2": 2}.get(fault, 1)
    assert len(one_m.files) == pages  # a page per Parquet file here (chunk_rows = page size)


def test_bulk_job_create_is_retried_as_one_call(sim: Simulator, tmp_path: Path) -> None:
    client = _client(sim, tmp_path, extract_bulk_threshold=0)
    sim.faults.add(f"503:bulk2.query.create:count={R}")
    calls = _Calls(sim)
    assert _extract(client, client.settings, "clears").rows == ACCOUNTS
    assert calls["bulk2.query.create"] == 1 + R  # a POST, declared safe to repeat: a duplicate is an idle job
    sim.faults.add("503:bulk2.query.create")
    calls = _Calls(sim)
    fell_back = _extract(client, client.settings, "persists")  # past the retries: read through REST
    assert (fell_back.api, fell_back.rows) == ("rest", ACCOUNTS)
    assert any("SERVER_UNAVAILABLE" in n for n in fell_back.notes), fell_back.notes
    assert calls["bulk2.query.create"] == 1 + R and calls["bulk2.query.results"] == 0


# --- push: Collections -----------------------------------------------------------------------------------------------
def _rows(ids: dict[str, Any], marker: str, n: int = ACCOUNTS) -> list[dict[str, Any]]:
    return [{"Id": i, "Risk_Model_Version__c": marker} for i in ids["accounts"][:n]]


def _written(sim: Simulator, ids: dict[str, Any], marker: str, n: int = ACCOUNTS) -> int:
    """How many of the first n accounts carry the marker."""
    found = sim.org.query(f"SELECT Id FROM Account WHERE Risk_Model_Version__c = '{marker}'").records(0)
    return len({r["Id"] for r in found} & set(ids["accounts"][:n]))


# (fault on composite.update, requests for the two chunks, rows' status, error code, sends per record)
PUSH_FAULTS = [
    pytest.param(
        "503:composite.update", 2 * (1 + R), "retry", "SERVER_UNAVAILABLE", 1 + R, id="503-persistent"
    ),
    pytest.param(f"503:composite.update:count={R}", 2 + R, "updated", None, None, id="503-clears"),
    pytest.param("drop:composite.update:count=1", 3, "updated", None, None, id="drop-once"),
    pytest.param("drop:composite.update", 2 * (1 + R), "retry", "NETWORK", 1 + R, id="drop-persistent"),
    # a 500 may be one poison record: after its retries the chunk is split once, each half sent once
    pytest.param(
        "500:composite.update", 2 * (3 + R), "retry", "UNKNOWN_EXCEPTION", 2 + R, id="500-persistent"
    ),
    pytest.param(
        f"500:composite.update:count={1 + R}", 1 + R + 2 + 1, "updated", None, None, id="500-then-halves"
    ),
]


@pytest.mark.parametrize(("fault", "requests_", "status", "code", "sends"), PUSH_FAULTS)
def test_collections_chunk_costs_at_most_1_plus_r_requests(
    sim: Simulator,
    tmp_path: Path,
    ids: dict[str, Any],
    fault: str,
    requests_: int,
    status: str,
    code: str | None,
    sends: int | None,
) -> None:
    client = _client(sim, tmp_path)
    client.describe("Account")
    marker = f"retry-{fault}"[:40]
    sim.faults.add(fault)
    calls = _Calls(sim)
    results = push_updates(client, "Account", _rows(ids, marker), client.settings)
    assert calls["composite.update"] == requests_
    assert {r.status for r in results} == {status} and {r.error_code for r in results} == {code}
    if status == "updated":
        assert _written(sim, ids, marker) == ACCOUNTS
    else:
        assert {r.attempts for r in results} == {sends}
        assert all("composite/sobjects" in (r.message or "") for r in results)  # the message says what failed
        # a dropped answer came after the update was made (an update is safe to send again next run)
        assert _written(sim, ids, marker) == (ACCOUNTS if fault.startswith("drop") else 0)


def test_quota_stops_the_push_after_one_request(sim: Simulator, tmp_path: Path, ids: dict[str, Any]) -> None:
    client = _client(sim, tmp_path)
    client.describe("Account")
    sim.faults.add("403:composite.update")
    calls = _Calls(sim)
    with pytest.raises(PushInterrupted) as err:
        push_updates(client, "Account", _rows(ids, "quota"), client.settings)
    assert calls["composite.update"] == 1
    assert len(err.value.results) == ACCOUNTS
    assert {(r.status, r.error_code) for r in err.value.results} == {("not_sent", "REQUEST_LIMIT_EXCEEDED")}
    assert _written(sim, ids, "quota") == 0


def test_call_retries_and_record_resends_share_the_chunk_budget(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = _client(sim, tmp_path)
    client.describe("Account")
    locked = ids["accounts"][3]
    sim.faults.add(f"503:composite.update:count=1;lock:{locked}:count=50")
    calls = _Calls(sim)
    results = push_updates(client, "Account", _rows(ids, "shared", 10), client.settings)
    # 503 (retry 1), then a 200 with the row locked (re-send = retry 2), locked again: budget spent
    assert calls["composite.update"] == 1 + R
    assert (results[3].status, results[3].error_code, results[3].attempts) == (
        "retry",
        "UNABLE_TO_LOCK_ROW",
        1 + R,
    )
    assert [r.status for i, r in enumerate(results) if i != 3] == ["updated"] * 9


def test_creates_are_never_sent_twice_after_the_request_left(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = _client(sim, tmp_path)
    task = {"WhatId": ids["accounts"][0], "OwnerId": ids["users"][0], "Status": "Not Started"}
    for fault, code in (("503:composite.create", "SERVER_UNAVAILABLE"), ("drop:composite.create", "NETWORK")):
        subject = f"unknown outcome {code}"
        sim.faults.clear()
        sim.faults.add(fault)
        calls = _Calls(sim)
        [result] = create_tasks(client, [{**task, "Subject": subject}])
        assert calls["composite.create"] == 1
        assert (result.status, result.error_code) == ("retry", code)
        found = sim.org.query(f"SELECT Id FROM Task WHERE Subject = '{subject}'").records(0)
        # the dropped answer came after the create: it happened once, and was not repeated blindly
        assert len(list(found)) == (1 if fault.startswith("drop") else 0)


# --- push: Bulk 2.0 ---------------------------------------------------------------------------------------------------
def test_bulk_update_job_faults_cost_1_plus_r_per_call(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = _client(sim, tmp_path, push_bulk_threshold=0)
    client.describe("Account")
    sim.faults.add(f"503:bulk2.ingest.create:count={R};drop:bulk2.ingest.results:count=1")
    calls = _Calls(sim)
    results = push_updates(client, "Account", _rows(ids, "bulk-clears"), client.settings)
    assert {r.status for r in results} == {"updated"} and _written(sim, ids, "bulk-clears") == ACCOUNTS
    assert calls["bulk2.ingest.create"] == 1 + R and calls["composite.update"] == 0
    assert calls["bulk2.ingest.results"] == 2 + 1  # successful + failed results, one of them cut off once

    sim.faults.clear()
    sim.faults.add("503:bulk2.ingest.create")
    calls = _Calls(sim)
    results = push_updates(client, "Account", _rows(ids, "bulk-persists"), client.settings)
    assert (
        calls["bulk2.ingest.create"] == 1 + R and calls["composite.update"] == 0
    )  # a busy server: no fallback
    assert {(r.status, r.error_code) for r in results} == {("retry", "SERVER_UNAVAILABLE")}

    sim.faults.clear()
    sim.faults.add("403:bulk2.ingest.create")
    calls = _Calls(sim)
    with pytest.raises(PushInterrupted) as err:
        push_updates(client, "Account", _rows(ids, "bulk-quota"), client.settings)
    assert calls["bulk2.ingest.create"] == 1
    assert {(r.status, r.error_code) for r in err.value.results} == {("not_sent", "REQUEST_LIMIT_EXCEEDED")}


def test_bulk_row_locked_is_sent_at_most_1_plus_r_times(
    sim: Simulator, tmp_path: Path, ids: dict[str, Any]
) -> None:
    client = _client(sim, tmp_path, push_bulk_threshold=0)
    client.describe("Account")
    locked = ids["accounts"][7]
    sim.faults.add(f"lock:{locked}:count=50")
    calls = _Calls(sim)
    results = push_updates(client, "Account", _rows(ids, "bulk-lock", 20), client.settings)
    assert calls["bulk2.ingest.create"] == 1 and calls["composite.update"] == R  # the job was the first send
    assert (results[7].status, results[7].error_code, results[7].attempts) == (
        "retry",
        "UNABLE_TO_LOCK_ROW",
        1 + R,
    )
    assert _written(sim, ids, "bulk-lock", 20) == 19


# --- Retry-After, through the real client against a tiny TLS server that answers 503 + Retry-After -----------------
class _Busy(BaseHTTPRequestHandler):
    """Answers each GET with the next queued (status, Retry-After) and notes when it came; 200 when none is left."""

    server: _BusyServer

    def do_GET(self) -> None:
        self.server.seen.append(time.monotonic())
        status, retry_after = self.server.answers.pop(0) if self.server.answers else (200, None)
        body = b'{"DailyApiRequests": {"Max": 5, "Remaining": 4}}'
        if status != 200:
            body = b'[{"errorCode": "SERVER_UNAVAILABLE", "message": "Server too busy"}]'
        self.send_response(status)
        if retry_after == "date":
            retry_after = email.utils.formatdate(time.time() + 30, usegmt=True)
        if retry_after:
            self.send_header("Retry-After", retry_after)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        """Quiet."""


class _BusyServer(HTTPServer):
    answers: list[tuple[int, str | None]]
    seen: list[float]


@pytest.fixture()
def busy(tmp_path: Path) -> Iterator[tuple[_BusyServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server = _BusyServer(("127.0.0.1", 0), _Busy)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    server.answers, server.seen = [], []
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server, tmp_path / "ca.pem"
    server.shutdown()
    server.server_close()


def test_retry_after_is_honoured_and_capped(busy: tuple[_BusyServer, Path]) -> None:
    server, ca_file = busy
    settings = load_settings(
        sf_auth="session",
        sf_instance_url=f"https://127.0.0.1:{server.server_address[1]}",
        sf_session_id="00D000000000001!not-a-real-session",
        sf_ca_bundle=str(ca_file),
        sf_max_retries=R,
        sf_retry_backoff_seconds=0.001,  # alone, the backoff would not wait at all
        sf_retry_backoff_max_seconds=0.5,
    )
    client = connect(settings)
    server.answers = [(503, "1"), (503, "date")]  # 1 s, then an HTTP date 30 s ahead: both capped at 0.5 s
    assert client.request("GET", "limits").json()["DailyApiRequests"]["Max"] == 5
    gaps = [b - a for a, b in zip(server.seen, server.seen[1:], strict=False)]
    assert len(server.seen) == 1 + R and client.api_calls == 1 + R  # every retry is an API call, counted
    assert all(0.45 <= gap < 0.95 for gap in gaps), gaps


# --- the policy's pure decisions -------------------------------------------------------------------------------------
def test_retry_after_header_forms() -> None:
    now = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("3") == 3.0 and retry_after_seconds(" 0 ") == 0.0
    assert retry_after_seconds("-4") == 0.0 and retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None and retry_after_seconds("") is None
    assert retry_after_seconds("Wed, 01 May 2024 12:00:07 GMT", now) == 7.0
    assert retry_after_seconds("Wed, 01 May 2024 11:59:00 GMT", now) == 0.0  # already past


def test_backoff_is_exponential_jittered_and_capped() -> None:
    policy = RetryPolicy(max_retries=9, backoff=1.0, backoff_max=10.0, rng=random.Random(7))
    for retry, (low, high) in {1: (0.5, 1.0), 2: (1.0, 2.0), 3: (2.0, 4.0), 6: (5.0, 10.0)}.items():
        waits = [policy.delay(retry) for _ in range(50)]
        assert all(low <= w <= high for w in waits) and len(set(waits)) > 1, (retry, waits[:3])
    assert policy.delay(1, retry_after=7.0) == 7.0  # Retry-After longer than the backoff wins
    assert policy.delay(1, retry_after=600.0) == 10.0  # ...up to the cap
    assert policy.delay(3, retry_after=0.0) >= 2.0  # shorter: the backoff stands


def test_what_is_retried_and_what_is_split() -> None:
    policy = RetryPolicy()
    busy, sick = TransientError("x", status=503), TransientError("x", status=500, code="UNKNOWN_EXCEPTION")
    not_sent = translate(requests.exceptions.ConnectTimeout("x"), "x")
    cut = translate(requests.exceptions.ChunkedEncodingError("x"), "x")
    slow = translate(requests.exceptions.ReadTimeout("x"), "x")
    assert (not_sent.code, cut.code, slow.code) == ("CONNECT", "NETWORK", "READ_TIMEOUT")
    for err in (busy, sick, cut, slow, not_sent):
        assert policy.retryable(err, idempotent=True)
    assert [policy.retryable(e, idempotent=False) for e in (busy, sick, cut, slow, not_sent)] == [
        False,
        False,
        False,
        False,
        True,  # a create is repeated only when nothing was sent
    ]
    never: list[ConnectorError] = [
        QuotaExceeded("x", status=403, code="REQUEST_LIMIT_EXCEEDED"),
        TransientError("x", status=400, code="QUERY_TIMEOUT"),  # the caller narrows the window instead
        SessionExpired("x", status=401),
        TerminalError("x", status=400, code="MALFORMED_QUERY"),
    ]
    assert not any(policy.retryable(e, idempotent=True) for e in never)
    assert policy.splits(sick, idempotent=True) and not policy.splits(sick, idempotent=False)
    assert not policy.splits(busy, idempotent=True) and not policy.splits(cut, idempotent=True)
    assert policy.splits(TerminalError("x", status=400, code="JSON_PARSER_ERROR"), idempotent=False)
    assert policy.splits(RecordError("x", status=400, code="MALFORMED_ID"), idempotent=True)
    assert not policy.splits(TerminalError("x", status=403, code="INSUFFICIENT_ACCESS"), idempotent=True)
    assert not policy.splits(never[0], idempotent=True)


def test_run_spends_the_budget_then_raises() -> None:
    waits: list[float] = []
    policy = RetryPolicy(max_retries=3, backoff=0.0, sleep=waits.append)
    tries: list[int] = []

    def busy() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise requests.exceptions.ConnectionError("reset")
        return "ok"

    assert policy.run("x", busy, idempotent=True) == "ok" and len(tries) == 3 and len(waits) == 2
    tries.clear()
    shared = Budget(3, spent=2)  # a chunk that already spent two of its three retries
    with pytest.raises(TransientError):
        policy.run("x", busy, idempotent=True, budget=shared)
    assert len(tries) == 2 and shared.left == 0
