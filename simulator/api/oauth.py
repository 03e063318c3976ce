"""The auth endpoints: OAuth 2.0 `token` and `revoke`, and the SOAP partner `login` call (salesforce-wire.md §1.1-1.4).

Failures answer the way Salesforce does: 400 `invalid_grant` / `invalid_client_id` / `invalid_client` for OAuth, a
SOAP fault `INVALID_LOGIN` for SOAP, 401 `INVALID_SESSION_ID` for an API call without a live session.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape

from simulator.api.auth import oauth_error
from simulator.api.http import XML_TYPE, HttpError, Request, Response, error, json_response

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["revoke", "session_error", "soap_login", "token"]

_FAULT_MESSAGE = "Invalid username, password, security token; or user locked out."


def token(ctx: ApiContext, req: Request) -> Response:
    """POST /services/oauth2/token."""
    basic = None
    header = req.headers.get("Authorization") or ""
    if header.lower().startswith("basic "):
        try:
            cid, _, secret = base64.b64decode(header[6:].strip()).decode().partition(":")
            basic = (cid, secret)
        except ValueError:
            raise oauth_error("invalid_client", "invalid client credentials") from None
    return json_response(200, ctx.auth.grant(req.form(), basic, ctx.instance_url))


def revoke(ctx: ApiContext, req: Request) -> Response:
    """POST /services/oauth2/revoke (token=...): ends an access token's session; 200 with an empty body."""
    token = req.form().get("token") or req.params.get("token")
    if not token:
        raise oauth_error("unsupported_token_type", "this token type is not supported")
    ctx.auth.revoke(token)
    return Response(200, b"", None)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def soap_login(ctx: ApiContext, req: Request) -> Response:
    """POST /services/Soap/u/{version}: the partner `login` call (bare <sessionId>/<serverUrl> in the answer)."""
    try:
        root = ET.fromstring(req.body)
    except ET.ParseError:
        return _soap_fault("INVALID_LOGIN", _FAULT_MESSAGE)
    values = {_local(el.tag): (el.text or "") for el in root.iter()}
    if not ctx.auth.soap_ok(values.get("username", ""), values.get("password", "")):
        return _soap_fault("INVALID_LOGIN", _FAULT_MESSAGE)
    session = ctx.auth.issue()
    version = req.groups.get("version", "62.0")
    creds = ctx.auth.creds
    server_url = f"{ctx.instance_url}/services/Soap/u/{version}/{creds['organization_id'][:15]}"
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns="urn:partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        "<soapenv:Body><loginResponse><result>"
        f"<metadataServerUrl>{ctx.instance_url}/services/Soap/m/{version}/{creds['organization_id'][:15]}</metadataServerUrl>"
        "<passwordExpired>false</passwordExpired><sandbox>false</sandbox>"
        f"<serverUrl>{server_url}</serverUrl><sessionId>{session}</sessionId>"
        f"<userId>{creds['user_id']}</userId><userInfo><organizationId>{creds['organization_id']}</organizationId>"
        f"<organizationName>crm-risk simulator</organizationName><sessionSecondsValid>{ctx.auth.ttl_seconds}"
        f"</sessionSecondsValid><userEmail>{escape(creds['username'])}</userEmail><userFullName>Integration User"
        f"</userFullName><userId>{creds['user_id']}</userId><userName>{escape(creds['username'])}</userName>"
        "</userInfo></result></loginResponse></soapenv:Body></soapenv:Envelope>"
    )
    return Response(200, body.encode(), XML_TYPE)


def _soap_fault(code: str, message: str) -> Response:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/'
        'envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">'
        f"<soapenv:Body><soapenv:Fault><faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}"
        f'</faultstring><detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail></soapenv:Fault>"
        "</soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, body.encode(), XML_TYPE)


def session_error() -> HttpError:
    """The 401 Salesforce answers for a missing, expired or revoked session."""
    exc = error(401, "INVALID_SESSION_ID", "Session expired or invalid")
    exc.headers.append(("WWW-Authenticate", "Token"))
    return exc
