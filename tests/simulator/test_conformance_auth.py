"""Conformance: OAuth grants, JWT bearer, SOAP login (adapter trick of wire §1.13), session expiry, API budget."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import (
    SalesforceAuthenticationFailed,
    SalesforceExpiredSession,
    SalesforceRefusedRequest,
)

from tests.conftest import make_http


class ToSimulator(HTTPAdapter):
    """Sends every https://*.salesforce.com request to the simulator (the client itself is not patched)."""

    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = urlsplit(target)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        """Rewrite the host, keep path and query."""
        parts = urlsplit(request.url or "")
        if parts.hostname and parts.hostname.endswith("salesforce.com"):
            request.url = urlunsplit(
                (parts.scheme, self.target.netloc, parts.path, parts.query, parts.fragment)
            )
        return super().send(request, **kwargs)


def _redirected(connection: dict, url: str) -> requests.Session:
    http = make_http(connection["ca_bundle"])
    http.mount("https://", ToSimulator(url))
    return http


def _token(sim_http: requests.Session, connection: dict, **form: str) -> requests.Response:
    return sim_http.post(connection["token_url"], data=form)


def test_client_credentials_basic_and_form(sim_http: Any, connection: dict, simulator: Any) -> None:
    basic = sim_http.post(
        connection["token_url"],
        data={"grant_type": "client_credentials"},
        auth=(connection["client_id"], connection["client_secret"]),
    )
    body = basic.json()
    assert basic.status_code == 200
    assert set(body) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
    assert body["instance_url"] == simulator.url and not body["instance_url"].endswith("/")
    assert body["token_type"] == "Bearer" and body["issued_at"].isdigit()
    form = _token(
        sim_http,
        connection,
        grant_type="client_credentials",
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
    )
    sf = Salesforce(
        instance_url=form.json()["instance_url"],
        session_id=form.json()["access_token"],
        session=sim_http,
        version="60.0",
    )
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    bad = _token(
        sim_http,
        connection,
        grant_type="client_credentials",
        client_id=connection["client_id"],
        client_secret="wrong",
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"


def test_password_grant(sim_http: Any, connection: dict) -> None:
    common = {
        "grant_type": "password",
        "client_id": connection["client_id"],
        "client_secret": connection["client_secret"],
        "username": connection["username"],
    }
    ok = _token(
        sim_http, connection, **common, password=connection["password"] + connection["security_token"]
    )
    assert ok.status_code == 200 and ok.json()["access_token"]
    bad = _token(sim_http, connection, **common, password="nope")
    assert bad.status_code == 400
    assert bad.json() == {"error": "invalid_grant", "error_description": "authentication failure"}


def test_refresh_token_without_and_with_rotation(sim_http: Any, connection: dict, simulator: Any) -> None:
    form = {
        "grant_type": "refresh_token",
        "client_id": connection["client_id"],
        "client_secret": connection["client_secret"],
    }
    token = simulator.auth.creds["refresh_token"]
    for _ in range(2):  # rotation off: the same refresh token keeps working
        resp = _token(sim_http, connection, **form, refresh_token=token)
        assert resp.status_code == 200 and "refresh_token" not in resp.json()
    simulator.auth.rotate_refresh = True
    try:
        rotated = _token(sim_http, connection, **form, refresh_token=token).json()["refresh_token"]
        assert rotated != token
        old = _token(sim_http, connection, **form, refresh_token=token)
        assert old.status_code == 400 and old.json()["error"] == "invalid_grant"
        on_disk = json.loads((Path(simulator.state_dir) / "connection.json").read_text())
        assert on_disk["refresh_token"] == rotated
    finally:
        simulator.auth.rotate_refresh = False


def test_jwt_bearer_with_pyjwt(sim_http: Any, connection: dict) -> None:
    key = Path(connection["private_key_file"]).read_text()
    claims = {
        "iss": connection["client_id"],
        "sub": connection["username"],
        "aud": "https://login.salesforce.com",
        "exp": f"{time.time() + 180:.0f}",
    }  # simple-salesforce sends exp as a digit string
    ok = _token(
        sim_http,
        connection,
        grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer",
        assertion=jwt.encode(claims, key, algorithm="RS256"),
    )
    assert ok.status_code == 200 and ok.json()["instance_url"] == connection["instance_url"]
    wrong_sub = jwt.encode({**claims, "sub": "someone@else"}, key, algorithm="RS256")
    bad = _token(
        sim_http, connection, grant_type="urn:ietf:params:oauth:grant-type:jwt-bearer", assertion=wrong_sub
    )
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_simple_salesforce_login_modes_through_the_adapter(connection: dict, simulator: Any) -> None:
    http = _redirected(connection, simulator.url)
    jwt_sf = Salesforce(
        username=connection["username"],
        consumer_key=connection["client_id"],
        privatekey_file=connection["private_key_file"],
        session=http,
    )
    cc_sf = Salesforce(
        consumer_key=connection["client_id"],
        consumer_secret=connection["client_secret"],
        domain="sim.my",
        session=http,
    )
    pw_sf = Salesforce(
        username=connection["username"],
        password=connection["password"],
        consumer_key=connection["client_id"],
        consumer_secret=connection["client_secret"],
        session=http,
    )
    for client in (jwt_sf, cc_sf, pw_sf):
        assert client.sf_instance == urlsplit(simulator.url).netloc
        assert client.query("SELECT Id FROM User LIMIT 1")["records"]


def test_soap_login_and_relogin_after_expiry(connection: dict, simulator: Any, faults: Any) -> None:
    http = _redirected(connection, simulator.url)
    sf = Salesforce(
        username=connection["username"],
        password=connection["password"],
        security_token=connection["security_token"],
        session=http,
        version="59.0",
    )
    assert sf.sf_instance == urlsplit(simulator.url).netloc and "!" in sf.session_id
    first = sf.session_id
    faults.add("expire:query:count=1")  # the next query's session is revoked: 401, re-login, retry
    logins = simulator.calls["soap.login"]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] > 0
    assert simulator.calls["soap.login"] == logins + 1 and sf.session_id != first
    with pytest.raises(SalesforceAuthenticationFailed) as bad:
        Salesforce(username=connection["username"], password="wrong", security_token="x", session=http)
    assert bad.value.code == "INVALID_LOGIN"


def test_soap_login_response_is_bare(connection: dict, sim_http: Any, simulator: Any) -> None:
    envelope = (
        '<?xml version="1.0" encoding="utf-8" ?><env:Envelope xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:env="http://schemas.xmlsoap.org/soap/envelope/" '
        'xmlns:urn="urn:partner.soap.sforce.com"><env:Body><n1:login xmlns:n1="urn:partner.soap.sforce.com">'
        f"<n1:username>{connection['username']}</n1:username>"
        f"<n1:password>{connection['password']}{connection['security_token']}</n1:password>"
        "</n1:login></env:Body></env:Envelope>"
    )
    resp = sim_http.post(
        f"{simulator.url}/services/Soap/u/59.0",
        data=envelope,
        headers={"content-type": "text/xml", "charset": "UTF-8", "SOAPAction": "login"},
    )
    assert resp.status_code == 200
    assert re.search(r"<sessionId>[^<&]+</sessionId>", resp.text)
    assert f"<serverUrl>{simulator.url}/services/Soap/u/59.0/" in resp.text


def test_expired_session_is_401_json_list(connection: dict, sim_http: Any, simulator: Any) -> None:
    token = _token(
        sim_http,
        connection,
        grant_type="client_credentials",
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
    ).json()["access_token"]
    sf = Salesforce(instance_url=simulator.url, session_id=token, session=sim_http)
    assert sf.query("SELECT COUNT() FROM User")["totalSize"] > 0
    ttl = simulator.auth.ttl_seconds
    simulator.auth.ttl_seconds = 0
    try:
        with pytest.raises(SalesforceExpiredSession) as expired:
            sf.query("SELECT COUNT() FROM User")
    finally:
        simulator.auth.ttl_seconds = ttl
    assert expired.value.content == [
        {"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}
    ]
    raw = sim_http.get(
        f"{simulator.url}/services/data/v59.0/limits", headers={"Authorization": "Bearer nope"}
    )
    assert raw.status_code == 401 and raw.headers["Content-Type"] == "application/json;charset=UTF-8"


def test_daily_budget_is_403_request_limit_exceeded(sf: Any, simulator: Any) -> None:
    budget = simulator.api_budget
    simulator.api_budget = simulator.api_used + 1
    try:
        sf.query("SELECT COUNT() FROM Account")
        with pytest.raises(SalesforceRefusedRequest) as refused:
            sf.query("SELECT COUNT() FROM Account")
    finally:
        simulator.api_budget = budget
    assert refused.value.content == [
        {"message": "TotalRequests Limit exceeded.", "errorCode": "REQUEST_LIMIT_EXCEEDED"}
    ]


def test_revoke_ends_the_session(sim_http: Any, connection: dict, simulator: Any) -> None:
    token = _token(
        sim_http,
        connection,
        grant_type="client_credentials",
        client_id=connection["client_id"],
        client_secret=connection["client_secret"],
    ).json()["access_token"]
    url = f"{simulator.url}/services/data/v59.0/limits"
    assert sim_http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert sim_http.post(f"{simulator.url}/services/oauth2/revoke", data={"token": token}).status_code == 200
    assert sim_http.get(url, headers={"Authorization": f"Bearer {token}"}).status_code == 401
