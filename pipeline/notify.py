"""Notification step: one plain-language message about a flag that moved, and posting it to a chat webhook."""

from __future__ import annotations

import requests

__all__ = ["flag_message", "post_webhook"]


def flag_message(
    account_id: str,
    account_name: str | None,
    level: str | None,
    previous_level: str | None,
    reasons: list[str] | None,
) -> str:
    """'Acme Corp (001...) is Red, was Amber: <reasons>'; no level before reads 'no level'."""
    who = f"{account_name} ({account_id})" if account_name else account_id
    why = " ".join(reasons or []) or "No reasons given."
    return f"{who} is {level or 'unknown'}, was {previous_level or 'no level'}: {why}"


def post_webhook(url: str, message: str, timeout: float = 10.0) -> None:
    """POST `{"text": message}` (Slack, Mattermost, Google Chat and Rocket.Chat incoming webhooks read it).

    The URL is a secret (whoever has it can post): errors name the status or the exception type, never the URL.
    """
    try:
        response = requests.post(url, json={"text": message}, timeout=timeout)
    except requests.RequestException as exc:
        raise RuntimeError(f"the webhook could not be reached ({type(exc).__name__})") from None
    if not response.ok:
        raise RuntimeError(f"the webhook answered HTTP {response.status_code}")
