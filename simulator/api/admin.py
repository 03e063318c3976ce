"""The simulator's own endpoints under `/_simulator/` (not Salesforce URLs): advance the org, read the counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simulator.api.http import Request, Response, json_response

if TYPE_CHECKING:
    from simulator.api.context import ApiContext

__all__ = ["advance", "calls"]


def advance(ctx: ApiContext, req: Request) -> Response:
    """POST /_simulator/advance?days=N: move the org's clock and business forward."""
    days = int(req.params.get("days") or 1)
    return json_response(200, ctx.advance(days))


def calls(ctx: ApiContext, req: Request) -> Response:
    """GET /_simulator/calls: the per-endpoint call counter and the API usage (for out-of-process benchmarks)."""
    usage = ctx.usage
    return json_response(
        200, {"calls": dict(usage.calls), "api_used": usage.used, "api_budget": usage.budget}
    )
