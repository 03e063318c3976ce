"""The retry policy: the one place that decides whether a failed CRM request is sent again, and when.

One layer retries: `CrmClient.call` / `CrmClient.request` run every attempt through `RetryPolicy.run` (the session's
urllib3 retries are off), because only there are Salesforce's error codes, `Retry-After`, the run's call budget, the
re-login on 401 and a body cut off half-way all visible, and every attempt is counted as an API call. Nothing else
loops on errors: the pusher and Bulk 2.0 only *spend* from the same `Budget` (per-record re-sends) or split a batch.

What is retried (R = `sf_max_retries`):

    fault                                          retried?
    502 / 503 / 504, 500 UNKNOWN_EXCEPTION, 408/429   yes, unless the request was a non-idempotent POST already sent
    read timeout, connection dropped mid-answer       same (ChunkedEncodingError, ProtocolError, reset)
    connect error / connect timeout                   yes, any method: nothing was sent
    403 REQUEST_LIMIT_EXCEEDED (quota)                never: QuotaExceeded ends the run cleanly
    400 QUERY_TIMEOUT                                 never: the caller narrows the window instead
    401 INVALID_SESSION_ID                            one re-login and one re-send (not counted in R)
    any other 4xx, auth refused, TLS                  never (terminal)

Waits: exponential backoff `sf_retry_backoff_seconds * 2**(n-1)` with equal jitter (a uniformly drawn half of it),
or the answer's `Retry-After` (seconds or an HTTP date) when longer; every wait is capped at
`sf_retry_backoff_max_seconds`.

Bounds (requests the CRM receives; documented in docs/contracts.md §2):

- any one call (a query page, queryMore, describe, a Bulk 2.0 job request or result page, one Collections chunk of
  up to 200 records): at most 1 + R requests on transient faults (+1 after a re-login on 401); a persistent 503
  costs exactly 1 + R. A 403 quota answer costs 1 request and stops.
- one Collections chunk: whole-call retries and re-sends of records that failed UNABLE_TO_LOCK_ROW inside a
  200 answer share one `Budget`, so the chunk costs at most 1 + R requests and each record is sent at most 1 + R
  times, whatever mix of transient faults occurs. Only a 500 still failing after that splits the chunk once into
  halves, each sent once (it may be one poison record): at most 3 + R requests. 502/503/504 and network faults are
  never split (halving a batch does not help a busy server); a 400 for the whole batch is not retried and is split
  down to single records to isolate the bad one (at most 2n - 1 calls for n records).
- Bulk 2.0 update rows that failed transiently are re-sent through Collections on a budget already charged with the
  job: each record is still sent at most 1 + R times in all.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TypeVar

from urllib3.util.retry import Retry

from connectors.salesforce.errors import translate
from crm_risk.config import Settings
from crm_risk.errors import ConnectorError, CrmRiskError, RecordError, TerminalError, TransientError

__all__ = ["IDEMPOTENT_METHODS", "Budget", "RetryPolicy", "retry_after_seconds", "transport_retry"]

log = logging.getLogger(__name__)
T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "DELETE"})
# Transient, but sending the same request again cannot help: the caller changes the request (a narrower window).
_CALLER_REMEDIES = frozenset({"QUERY_TIMEOUT"})
# Nothing reached the server: safe to repeat even a create.
NOT_SENT = "CONNECT"


def transport_retry() -> Retry:
    """The urllib3 Retry for the sessions: none at all (`RetryPolicy` is the only layer that retries).

    `read=False` re-raises read errors as they are, so requests reports a read timeout as ReadTimeout.
    """
    return Retry(total=0, read=False, redirect=False, raise_on_status=False)


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a `Retry-After` header asks to wait (delay-seconds or an HTTP date, relative to `now`), or None."""
    if not value or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN: ignore
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass
class Budget:
    """The retries one unit of work may still spend: one call, or one Collections chunk with its record re-sends."""

    retries: int
    spent: int = 0

    @property
    def left(self) -> int:
        """Retries not spent yet."""
        return max(0, self.retries - self.spent)

    def spend(self) -> bool:
        """Take one retry; False when none is left."""
        if self.spent >= self.retries:
            return False
        self.spent += 1
        return True


@dataclass
class RetryPolicy:
    """Whether a failure is retried, how long to wait first, and the loop that does it (see the module doc)."""

    max_retries: int = 8
    backoff: float = 0.5
    backoff_max: float = 30.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    rng: random.Random = field(default_factory=random.Random, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> RetryPolicy:
        """The policy of `sf_max_retries`, `sf_retry_backoff_seconds` and `sf_retry_backoff_max_seconds`."""
        return cls(
            max_retries=settings.sf_max_retries,
            backoff=settings.sf_retry_backoff_seconds,
            backoff_max=settings.sf_retry_backoff_max_seconds,
        )

    def budget(self, *, retries: int | None = None) -> Budget:
        """A fresh budget of `retries` (default `max_retries`) retries."""
        return Budget(self.max_retries if retries is None else max(0, retries))

    def retryable(self, err: ConnectorError, *, idempotent: bool) -> bool:
        """Whether sending the same request again may succeed and is safe (a create is never sent twice blindly)."""
        if not isinstance(err, TransientError) or err.code in _CALLER_REMEDIES:
            return False  # QuotaExceeded, TerminalError (SessionExpired included), RecordError
        return idempotent or err.code == NOT_SENT

    def splits(self, err: ConnectorError, *, idempotent: bool) -> bool:
        """Whether halving a Collections batch that failed as a whole may isolate a bad record.

        Yes for a 400 refusing the whole batch and for a 500 still failing after its retries (a record may crash the
        server); no for a busy server (502/503/504, network), the quota, permissions or sessions (every half would
        fail the same way), and no for a create whose 500 leaves its outcome unknown.
        """
        if isinstance(err, TransientError):
            return idempotent and err.status == 500
        return isinstance(err, (TerminalError, RecordError)) and err.status == 400

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number `retry` (1-based): jittered exponential backoff or Retry-After, capped."""
        base = min(self.backoff_max, self.backoff * 2 ** max(0, retry - 1))
        wait = base / 2 + self.rng.uniform(0, base / 2)
        if retry_after is not None:
            wait = max(wait, retry_after)
        return min(self.backoff_max, wait)

    def run(
        self,
        what: str,
        send: Callable[[], T],
        *,
        idempotent: bool,
        budget: Budget | None = None,
        before: Callable[[], None] | None = None,
        recover: Callable[[ConnectorError], bool] | None = None,
        retry_after: Callable[[], float | None] | None = None,
    ) -> T:
        """`send()` until it succeeds or the policy stops: then its error, translated (errors.py), is raised.

        `before` runs ahead of every attempt (outside the retry decision: its errors propagate as they are);
        `recover(err)` may repair a failure and ask for one more attempt without spending the budget (re-login);
        `retry_after()` gives the failed answer's Retry-After in seconds.
        """
        budget = budget if budget is not None else self.budget()
        while True:
            if before is not None:
                before()
            try:
                return send()
            except CrmRiskError as exc:
                if not isinstance(exc, ConnectorError):
                    raise  # a ConfigError and the like: not an answer from the CRM, nothing to retry
                err = exc
            except Exception as exc:  # translated in one place (errors.py)
                err = translate(exc, what)
            if recover is not None and recover(err):
                continue
            if not self.retryable(err, idempotent=idempotent):
                raise err
            if not budget.spend():
                if budget.spent:  # say it was retried: the message is what an operator reads the next morning
                    raise type(err)(
                        f"{err} (still failing after {budget.spent} retries)",
                        status=err.status,
                        code=err.code,
                    ) from err
                raise err
            wait = self.delay(budget.spent, retry_after() if retry_after is not None else None)
            reason = " ".join(str(part) for part in (err.status, err.code) if part) or type(err).__name__
            log.warning(
                "%s failed (%s); retry %d/%d in %.2f s", what, reason, budget.spent, budget.retries, wait
            )
            self.sleep(wait)
