"""The HTTP policy every remote engine follows.

- Every request is bounded by its job's deadline (wall clock, like
  :meth:`bus.worker.JobContext.remaining`): connect within ``connect_timeout_s`` and each
  read within what is left; past the deadline nothing is retried.
- A refused or dropped connection, HTTP 429 and 502/503/504 are retried with exponential
  backoff and jitter (tenacity), honouring ``Retry-After``, for as long as the deadline
  allows; other 4xx are the request's fault and never retried; a 400/404/422 raises
  :class:`Unsupported` so a caller can fall back to a simpler request (capability
  detection; llama-cpp-python's server says it with a 500 and a validation error).
- Streaming replies are server-sent events (``data: {...}`` lines, ``data: [DONE]``).
"""

from __future__ import annotations

__all__ = [
    "RemoteError",
    "Unsupported",
    "check_status",
    "client",
    "remaining",
    "retrying",
    "retrying_sync",
    "sse_deltas",
    "status_error",
    "timeout",
    "transport_error",
]

import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    Retrying,
    retry_if_exception,
    wait_exponential_jitter,
)

from actors.models.engines import EngineError
from actors.models.remote.config import RemoteConfig

log = logging.getLogger(__name__)

_RETRY_STATUS = {429, 502, 503, 504}
_UNSUPPORTED_STATUS = {400, 404, 422}
_MAX_RETRY_AFTER_S = 10.0


class RemoteError(EngineError):
    """The server failed a request. ``status`` is the HTTP status (0: no response, the
    connection failed or dropped); ``retryable`` says whether trying again may help."""

    def __init__(
        self, message: str, *, status: int = 0, retryable: bool, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.retryable = retryable
        self.retry_after = retry_after


class Unsupported(RemoteError):
    """The server rejected the request's shape (400/404/422): an option it lacks."""


def remaining(deadline: float) -> float:
    """Seconds until ``deadline`` (a ``time.time()`` value)."""
    return deadline - time.time()


def timeout(cfg: RemoteConfig, deadline: float) -> httpx.Timeout:
    """Timeouts for one request that must finish by ``deadline``."""
    left = max(0.05, remaining(deadline))
    return httpx.Timeout(left, connect=min(cfg.connect_timeout_s, left), pool=left)


def client(cfg: RemoteConfig) -> httpx.AsyncClient:
    """The connection pool of one engine (sized for its concurrency; keep-alive)."""
    limits = httpx.Limits(
        max_connections=cfg.concurrency * 2, max_keepalive_connections=cfg.concurrency
    )
    return httpx.AsyncClient(base_url=cfg.url, headers=cfg.headers(), limits=limits)


def transport_error(exc: Exception) -> RemoteError:
    """A connection-level failure (refused, reset, timed out) as a retryable error."""
    return RemoteError(f"{type(exc).__name__}: {exc}", retryable=True)


def _retry_after(value: str | None) -> float | None:
    try:
        return min(_MAX_RETRY_AFTER_S, max(0.0, float(value))) if value else None
    except ValueError:
        return None  # an HTTP date: use our own backoff


def status_error(status: int, path: str, body: str, retry_after: str | None) -> RemoteError:
    """The :class:`RemoteError` for a non-2xx response."""
    message = f"HTTP {status} from {path}: {body[:300]}"
    # llama-cpp-python's server answers a request it cannot parse with 500 and the
    # validation error in the body.
    if status in _UNSUPPORTED_STATUS or (status == 500 and "validation error" in body):
        return Unsupported(message, status=status, retryable=False)
    return RemoteError(
        message,
        status=status,
        retryable=status in _RETRY_STATUS,
        retry_after=_retry_after(retry_after),
    )


async def check_status(resp: httpx.Response) -> None:
    """Raise the right :class:`RemoteError` for a non-2xx response (reads a bounded part
    of its body for the message)."""
    if resp.status_code < 300:
        return
    body = ""
    with contextlib.suppress(httpx.HTTPError):
        body = (await resp.aread())[:300].decode("utf-8", "replace")
    raise status_error(
        resp.status_code, resp.request.url.path, body, resp.headers.get("retry-after")
    )


def _policy(deadline: float, what: str) -> dict[str, Any]:
    backoff = wait_exponential_jitter(multiplier=0.2, max=4.0, jitter=0.3)

    def wait(rs: RetryCallState) -> float:
        exc = rs.outcome.exception() if rs.outcome else None
        hinted = exc.retry_after if isinstance(exc, RemoteError) else None
        return max(0.0, min(hinted if hinted is not None else backoff(rs), remaining(deadline)))

    def stop(rs: RetryCallState) -> bool:
        return remaining(deadline) - (rs.upcoming_sleep or 0.0) <= 0.05

    def before_sleep(rs: RetryCallState) -> None:
        exc = rs.outcome.exception() if rs.outcome else None
        log.info("%s: retry %d in %.2fs after %s", what, rs.attempt_number, rs.upcoming_sleep, exc)

    return {
        "retry": retry_if_exception(lambda e: isinstance(e, RemoteError) and e.retryable),
        "wait": wait,
        "stop": stop,
        "before_sleep": before_sleep,
        "reraise": True,
    }


def retrying_sync(deadline: float, what: str) -> Retrying:
    """The blocking twin of :func:`retrying` (for engines run on an actor's threads)."""
    return Retrying(**_policy(deadline, what))


def retrying(deadline: float, what: str) -> AsyncRetrying:
    """``async for attempt in retrying(deadline, "chat"): with attempt: ...`` retries
    retryable :class:`RemoteError` with backoff until the next wait would pass
    ``deadline``; then the last error is raised."""
    return AsyncRetrying(**_policy(deadline, what))


async def sse_deltas(resp: httpx.Response) -> AsyncIterator[str]:
    """The text deltas of a streaming chat completion, in order, until ``[DONE]``."""
    async for line in resp.aiter_lines():
        if not line.startswith("data:"):
            continue
        data = line[5:].strip()
        if data == "[DONE]":
            return
        try:
            event: Any = json.loads(data)
        except ValueError:
            raise RemoteError("bad server-sent event", retryable=False) from None
        if isinstance(event, dict) and "error" in event:
            raise RemoteError(f"server error mid-stream: {event['error']}", retryable=False)
        try:
            choice = event["choices"][0]
        except (KeyError, IndexError, TypeError):
            continue  # usage-only or keep-alive events
        text = (choice.get("delta") or {}).get("content") or choice.get("text") or ""
        if text:
            yield text
