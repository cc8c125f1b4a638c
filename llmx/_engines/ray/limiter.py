"""The one rate limiter of a Ray run: an actor holding the buckets, and the limiter each
extractor actor uses to consult it.

rpm/tpm buckets and the 429 pause live in one small async actor (:class:`BudgetActor`,
a :class:`~llmx._ratelimit.RateLimiter`); every extractor's limiter
(:class:`SharedLimiter`) asks it before each request, so a 429 seen by one actor pauses
them all, and each halves its own concurrency when it learns of it.
"""

from __future__ import annotations

from typing import Any

from llmx._config import Settings
from llmx._engines import make_limiter
from llmx._ratelimit import RateLimiter


class BudgetActor:
    """The run's one rate limiter, as an async Ray actor every extractor consults."""

    def __init__(self, settings: Settings) -> None:
        # concurrency 1: unused here, each extractor actor governs its own documents
        self._limiter = make_limiter(settings, 1)
        self._members: list[Any] = []

    async def acquire(self, tokens: int) -> tuple[int, int]:
        """Wait until a request of ``tokens`` fits (a 429 pause included); returns the
        reservation and the 429s seen so far (an actor halves its concurrency when that
        count moves)."""
        reserved = await self._limiter.acquire(tokens)
        return reserved, self._limiter.rate_limited

    def record(self, actual: int, estimated: int, success: bool) -> None:
        self._limiter.record(actual, estimated, success=success)

    def on_rate_limited(self, retry_after: float | None) -> float:
        return self._limiter.on_rate_limited(retry_after)

    def register(self, actor: Any) -> None:
        """An extractor actor says it started (a restarted one registers again)."""
        self._members.append(actor)

    def members(self) -> list[Any]:
        """The extractor actors that started, restarted ones once per start."""
        return list(self._members)

    def stats(self) -> dict[str, float]:
        limiter = self._limiter
        return {
            "rate_limited": limiter.rate_limited,
            "requests": limiter.requests,
            "waited_seconds": round(limiter.waited_seconds, 3),
            "actor_starts": len(self._members),
        }


class SharedLimiter(RateLimiter):
    """An extractor's limiter whose buckets and 429 pause are :class:`BudgetActor`'s.

    Every request waits in the budget actor (:meth:`acquire`: one call per request), so
    a pause set there holds every actor's next request. The governor (documents in
    flight) stays local: each actor halves it once per 429 burst anyone reports, and
    grows it back on its own successes. Settling a request (:meth:`record`) only goes to
    the budget when it matters there: a tokens-per-minute bucket to adjust, or a
    back-off to reset after 429s.
    """

    def __init__(self, budget: Any, concurrency: int, *, tpm: float | None) -> None:
        super().__init__(None, None, max_concurrency=concurrency)
        self._budget = budget
        self._tpm = tpm
        self._rate_limits_seen = 0

    def _follow_rate_limits(self, budget_count: int) -> None:
        """Halve the governor once when the budget's count of 429s has moved."""
        if budget_count > self._rate_limits_seen:
            self._rate_limits_seen = budget_count
            self.governor.on_rate_limited()

    async def acquire(self, tokens_estimate: int = 0) -> int:
        reserved, budget_count = await self._budget.acquire.remote(max(0, int(tokens_estimate)))
        self._follow_rate_limits(budget_count)
        self.requests += 1
        return int(reserved)

    def record(
        self, actual_tokens: int, estimated_tokens: int = 0, *, success: bool = True
    ) -> None:
        actual = max(0, int(actual_tokens))
        self.tokens_used += actual
        if self._tpm is not None or self._rate_limits_seen:
            self._budget.record.remote(actual, int(estimated_tokens), success)
        if success:
            self.governor.on_success()

    def on_rate_limited(self, retry_after: float | None = None) -> float:
        self.rate_limited += 1
        self._budget.on_rate_limited.remote(retry_after)
        return 0.0

    async def wait_if_paused(self) -> None:
        """Nothing to wait for here: the pause holds each request in :meth:`acquire`."""
