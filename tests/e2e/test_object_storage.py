"""Landing on object storage (issue 17 item 6): the nightly sync with CRM_RISK_LANDING_DIR=s3://bucket/landing.

A real S3-compatible server (moto's server mode, on 127.0.0.1 at a free port, started and stopped here) holds the
landing area; the pipeline reaches it through s3fs, DuckDB reads it through the same fsspec filesystem. The same org
is synced once with a local landing folder and once with the bucket: the raw tables must hold the same rows. Then
the bucket holds each extract's manifest and Parquet files, retention deletes old runs' prefixes there, and the S3
secret key is nowhere: not in the logs, the run's result, the warehouse, the bucket or Prefect's database.
Bad configurations (unknown protocol, missing package, unreachable endpoint, missing bucket) give one-line errors
naming CRM_RISK_LANDING_DIR.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from crm_risk import landing as storage
from crm_risk.config import load_settings
from crm_risk.errors import ConfigError
from flows.nightly import nightly_sync
from shell.doctor import _landing_check
from tests.e2e.secrets_sweep import prefect_database, sweep

pytestmark = [pytest.mark.e2e, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

BUCKET = "crm-landing"
KEY_ID = "AKIALANDINGTEST0001"
SECRET = "s3-landing-secret-Zq8v3Kx0pW7"  # must appear nowhere the run writes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def s3_endpoint() -> Iterator[str]:
    """An S3-compatible server on 127.0.0.1 with an empty bucket; stopped after the module."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id=KEY_ID,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
        ).create_bucket(Bucket=BUCKET)
        yield url
    finally:
        server.stop()


@pytest.fixture
def s3_env(monkeypatch: pytest.MonkeyPatch, s3_endpoint: str) -> str:
    """The bucket's endpoint and keys as the environment gives them (a secret is never a flow parameter)."""
    monkeypatch.setenv("CRM_RISK_LANDING_ENDPOINT_URL", s3_endpoint)
    monkeypatch.setenv("CRM_RISK_LANDING_KEY_ID", KEY_ID)
    monkeypatch.setenv("CRM_RISK_LANDING_SECRET_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    return s3_endpoint


def _bucket(endpoint: str) -> Any:
    import s3fs

    return s3fs.S3FileSystem(key=KEY_ID, secret=SECRET, endpoint_url=endpoint, skip_instance_cache=True)


def _raw_rows(warehouse: str) -> dict[str, list[tuple[Any, ...]]]:
    """Every raw table's rows (without the load's own bookkeeping columns), ordered."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with duckdb.connect(warehouse, read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'raw' order by 1"
            ).fetchall()
        ]
        for table in tables:
            cols = [
                r[0]
                for r in con.execute(
                    "select column_name from information_schema.columns "
                    "where table_schema = 'raw' and table_name = ? and column_name not in ('_run_id', '_loaded_at') "
                    "order by column_name",
                    [table],
                ).fetchall()
            ]
            select = ", ".join(f'"{c}"' for c in cols)
            out[table] = con.execute(f'select {select} from raw."{table}" order by all').fetchall()
    return out


def test_sync_landing_in_a_bucket_loads_what_a_local_landing_loads(
    s3_env: str, tmp_path: Path, settings_for: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO")
    local = {**settings_for, "push_enabled": False, "warehouse_path": str(tmp_path / "local.duckdb")}
    remote = {
        **settings_for,
        "push_enabled": False,
        "warehouse_path": str(tmp_path / "s3.duckdb"),
        "landing_dir": f"s3://{BUCKET}/landing",
        "landing_keep_runs": 1,
    }
    first = nightly_sync(settings=local)
    assert first["status"] == "success", first
    on_s3 = nightly_sync(settings=remote)
    assert on_s3["status"] == "success", on_s3

    local_rows, s3_rows = _raw_rows(local["warehouse_path"]), _raw_rows(remote["warehouse_path"])
    assert set(local_rows) >= {"account", "contact", "case", "task"}
    assert s3_rows.keys() == local_rows.keys()
    for table, rows in local_rows.items():
        assert s3_rows[table] == rows, table
    assert sum(len(r) for r in s3_rows.values()) > 100

    # the bucket holds each extract: its manifest (written last) and the Parquet files it names
    bucket = _bucket(s3_env)
    run_dirs = sorted(bucket.ls(f"{BUCKET}/landing", refresh=True))
    assert len(run_dirs) == 1
    account = f"{run_dirs[0]}/Account"
    manifest = json.loads(bucket.cat_file(f"{account}/_manifest.json"))
    assert manifest["object"] == "Account" and manifest["rows"] > 0
    for name in manifest["files"]:
        assert bucket.exists(f"{account}/{name}")
    assert not Path("s3:").exists()  # no local folder named after the URL
    first_run = run_dirs[0].rsplit("/", 1)[1]

    # retention on object storage: a second run (keep 1 run) deletes the first run's prefix
    again = nightly_sync(settings=remote)
    assert again["status"] == "success", again
    runs_after = [p.rsplit("/", 1)[1] for p in bucket.ls(f"{BUCKET}/landing", refresh=True)]
    assert first_run not in runs_after and len(runs_after) == 1

    # the S3 secret key is nowhere the runs wrote or said
    objects = [bucket.cat_file(k) for k in bucket.find(f"{BUCKET}/landing")]
    assert all(SECRET.encode() not in data for data in objects)
    texts = [caplog.text, json.dumps([first, on_s3, again], default=str)]
    roots = [tmp_path, *([db] if (db := prefect_database()) else [])]
    assert sweep({SECRET}, roots, texts) == []


def _landing(url: str, **overrides: Any) -> storage.Landing:
    return storage.landing(load_settings(landing_dir=url, **overrides), verify=True)


def test_bad_landing_urls_fail_in_one_line_naming_the_setting(s3_env: str) -> None:
    cases = {
        "nosuch://bucket/landing": "unknown storage protocol 'nosuch'",
        "gcs://bucket/landing": "needs a package that is not installed",  # gcsfs is not installed
        f"s3://no-such-bucket-{_free_port()}/landing": "does not exist",
    }
    for url, expected in cases.items():
        with pytest.raises(ConfigError) as caught:
            _landing(url)
        message = str(caught.value)
        assert "CRM_RISK_LANDING_DIR" in message and expected in message, message
        assert "\n" not in message and SECRET not in message

    # crm-risk doctor says the same, as a failed check with its fix
    missing = _landing_check(load_settings(landing_dir=f"s3://no-such-bucket-{_free_port()}/landing"))
    assert missing is not None and missing.status == "fail" and "create it" in missing.fix, missing
    reachable = _landing_check(load_settings(landing_dir=f"s3://{BUCKET}/landing"))
    assert reachable is not None and reachable.status == "pass", reachable
    assert (
        _landing_check(load_settings(landing_dir="landing")) is None
    )  # a local folder: the warehouse check's

    closed = f"http://127.0.0.1:{_free_port()}"  # nothing listens there
    with pytest.raises(ConfigError) as caught:
        _landing(f"s3://{BUCKET}/elsewhere", landing_endpoint_url=closed)
    message = str(caught.value)
    assert "cannot be reached" in message and "CRM_RISK_LANDING_ENDPOINT_URL" in message, message
    assert "\n" not in message and SECRET not in message


def test_plain_and_file_url_landing_dirs_are_the_same_local_folder(tmp_path: Path) -> None:
    plain = storage.landing(load_settings(landing_dir=str(tmp_path / "landing")))
    url = storage.landing(load_settings(landing_dir=f"file://{tmp_path}/landing"))
    assert plain.local and url.local and plain.root == url.root == tmp_path / "landing"
