"""Build a Pub/Sub API client from the settings and a logged-in CRM client (the session is shared)."""

from __future__ import annotations

from pathlib import Path

from connectors.salesforce.client import CrmClient
from connectors.salesforce.events.pubsub import Credentials, PubSubClient
from crm_risk.config import Settings
from crm_risk.errors import ConfigError

__all__ = ["pubsub_client"]


def pubsub_client(settings: Settings, crm: CrmClient, relogin: bool = False) -> PubSubClient:
    """A PubSubClient on `settings.sf_pubsub_url` authenticated with `crm`'s session (logged in again first
    when `relogin`)."""
    if not settings.sf_org_id:
        raise ConfigError(
            "CRM_RISK_SF_ORG_ID is not set: the Pub/Sub API needs the org id (Setup > Company Information > "
            "Salesforce.com Organization ID, 15 or 18 characters starting 00D)"
        )
    if relogin:
        crm.relogin()
    tenant = settings.sf_org_id
    ca = Path(settings.sf_ca_bundle).read_bytes() if settings.sf_ca_bundle else None
    return PubSubClient(
        settings.sf_pubsub_url, lambda: Credentials(crm.access_token, crm.instance_url, tenant), ca_pem=ca
    )
