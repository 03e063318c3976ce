"""The notify-flag flow: tell people an account's flag moved, in the run's log and, when configured, in a chat.

Deployed with its automation from automations/red_flag_notify.yaml (README: "Automations on flag events"): a
`crm.risk.flag.raised` event for a key account turning Red runs it with the event's account, levels and reasons.
"""

from __future__ import annotations

from typing import Any, cast

from prefect import flow, get_run_logger, task
from prefect.blocks.system import Secret
from prefect.cache_policies import NO_CACHE

from pipeline.notify import flag_message, post_webhook

__all__ = ["notify_flag"]


@task(name="post-webhook", retries=2, retry_delay_seconds=10, cache_policy=NO_CACHE)
def post_task(secret_block: str, message: str) -> None:
    """Post `message` to the URL held by the Secret block (loaded here: the URL is never a task input)."""
    secret = cast("Secret[str]", Secret.load(secret_block))  # a sync task: the sync implementation answers
    post_webhook(str(secret.get()), message)


@flow(name="notify-flag", log_prints=False)
def notify_flag(
    account_id: str,
    account_name: str | None = None,
    level: str | None = None,
    previous_level: str | None = None,
    reasons: list[str] | None = None,
    run_id: str | None = None,
    webhook_secret: str | None = None,
) -> dict[str, Any]:
    """Log who to call and why; post it to the webhook whose URL is in the Prefect Secret block `webhook_secret`."""
    message = flag_message(account_id, account_name, level, previous_level, reasons)
    get_run_logger().info("%s (crm-risk run %s)", message, run_id)
    if webhook_secret:
        post_task(webhook_secret, message)
    return {"account_id": account_id, "message": message, "posted": bool(webhook_secret)}
