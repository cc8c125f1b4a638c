"""Client-side rate limiting and adaptive concurrency.

Two cooperating pieces:

* :class:`RateLimiter` - token buckets for requests/minute and tokens/minute,
  plus a shared pause after a 429. The HTTP client calls, per request::

      reserved = await limiter.acquire(estimated_tokens)   # waits as needed
      ...send...
      limiter.record(actual_tokens, reserved)              # on success
      limiter.on_rate_limited(retry_after)                 # on HTTP 429
      limiter.record(0, reserved, success=False)           # other failures: refund

* :class:`ConcurrencyGovernor` (``limiter.governor``) - AIMD control of how
  many documents are in flight: halved on a 429, +1 after every
  ``increase_after`` successes, never above the configured maximum. The batch
  engine holds a :meth:`ConcurrencyGovernor.slot` around each document, so a 429
  reported from inside that document's processing is attributed to the slot's
  generation: 429s from requests started before the last decrease do not halve
  again (one burst of 429s halves once).

Time comes from a :class:`Clock`; tests inject :class:`FakeClock`.
"""

from __future__ import annotations

import asyncio
import contextvars
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

from llmx._errors import ConfigError

__all__ = [
    "Clock",
    "ConcurrencyGovernor",
    "FakeClock",
    "RateLimiter",
    "SystemClock",
    "TokenBucket",
    "estimate_tokens",
]


class Clock(Protocol):
    def monotonic(self) -> float: ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    """The real clock: ``time.monotonic`` and ``asyncio.sleep``."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


class FakeClock:
    """A virtual clock for tests: ``sleep`` advances time instantly.

    Every requested sleep is recorded in ``sleeps``. With several concurrent
    sleepers time advances by the sum of their sleeps, so timing assertions are
    exact only for one waiter at a time (the limiter serialises its waiters).
    """

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        await asyncio.sleep(0)


def estimate_tokens(text: str, max_output_tokens: int = 0) -> int:
    """A cheap upper-ish estimate of a request's tokens: ~4 characters per token.

    CJK text is closer to one token per character, so non-ASCII characters count
    one token each. Add the completion budget the request allows.
    """
    ascii_chars = len(text.encode("ascii", "ignore"))
    return (ascii_chars + 3) // 4 + (len(text) - ascii_chars) + max(0, max_output_tokens)


class TokenBucket:
    """A token bucket refilled continuously at ``rate_per_second`` up to ``capacity``.

    A single request bigger than the capacity is admitted once the bucket is
    full and drives the level negative (debt), which later requests wait off.
    """

    def __init__(self, rate_per_second: float, capacity: float, clock: Clock) -> None:
        if rate_per_second <= 0 or capacity <= 0:
            raise ConfigError("rate limits must be positive", rate=rate_per_second)
        self.rate = rate_per_second
        self.capacity = capacity
        self.level = capacity
        self._clock = clock
        self._updated = clock.monotonic()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        if now > self._updated:
            self.level = min(self.capacity, self.level + (now - self._updated) * self.rate)
        self._updated = now

    def delay(self, amount: float) -> float:
        """Seconds until ``amount`` can be taken (0 when it can be now)."""
        self._refill()
        need = min(amount, self.capacity)
        if self.level >= need:
            return 0.0
        return (need - self.level) / self.rate

    def take(self, amount: float) -> None:
        self._refill()
        self.level -= amount

    def give_back(self, amount: float) -> None:
        """Adjust by ``amount`` (positive refunds, negative charges extra)."""
        self._refill()
        self.level = min(self.capacity, self.level + amount)

    def drain(self) -> None:
        """Empty the bucket (the server says we are over the limit)."""
        self._refill()
        self.level = min(self.level, 0.0)


_SLOT_GENERATION: contextvars.ContextVar[int | None] = contextvars.ContextVar(
    "llmx_slot_generation", default=None
)


class ConcurrencyGovernor:
    """AIMD limit on documents in flight: halve on 429, +1 per ``increase_after`` successes."""

    def __init__(
        self, max_concurrency: int, *, min_concurrency: int = 1, increase_after: int = 10
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError("concurrency must be at least 1", concurrency=max_concurrency)
        self.max_concurrency = max_concurrency
        self.min_concurrency = max(1, min(min_concurrency, max_concurrency))
        self.increase_after = max(1, increase_after)
        self.limit = max_concurrency
        self.in_flight = 0
        self.max_in_flight_seen = 0
        self.decreases = 0
        self._generation = 0
        self._successes = 0
        self._waiters: list[asyncio.Future[None]] = []

    @property
    def generation(self) -> int:
        return self._generation

    async def acquire(self) -> int:
        """Wait for a free slot; returns the generation the slot was granted under."""
        while self.in_flight >= self.limit:
            fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                if fut.done() and not fut.cancelled():
                    self._wake()  # woken but leaving: pass the turn on
                raise
            finally:
                if fut in self._waiters:
                    self._waiters.remove(fut)
        self.in_flight += 1
        self.max_in_flight_seen = max(self.max_in_flight_seen, self.in_flight)
        return self._generation

    def release(self) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        self._wake()

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[int]:
        """Hold one slot; 429s reported inside are tied to this slot's generation."""
        generation = await self.acquire()
        token = _SLOT_GENERATION.set(generation)
        try:
            yield generation
        finally:
            _SLOT_GENERATION.reset(token)
            self.release()

    def on_success(self) -> None:
        self._successes += 1
        if self._successes >= self.increase_after and self.limit < self.max_concurrency:
            self.limit += 1
            self._successes = 0
            self._wake()

    def on_rate_limited(self, generation: int | None = None) -> bool:
        """Halve the limit; returns False when ignored as part of an already-handled burst."""
        if generation is None:
            generation = _SLOT_GENERATION.get()
        self._successes = 0
        if generation is not None and generation < self._generation:
            return False
        self.limit = max(self.min_concurrency, self.limit // 2)
        self._generation += 1
        self.decreases += 1
        return True

    def _wake(self) -> None:
        free = self.limit - self.in_flight
        for fut in self._waiters[: max(0, free)]:
            if not fut.done():
                fut.set_result(None)


class RateLimiter:
    """Requests/minute and tokens/minute buckets, a shared 429 pause, and a governor.

    ``rpm``/``tpm`` of ``None`` mean unlimited. ``burst_seconds`` is how much
    allowance the buckets hold (10 s worth by default; at least one request).
    After a 429 without ``Retry-After`` everyone pauses ``base_backoff`` seconds,
    doubling on consecutive 429s up to ``max_backoff``; a success resets it.
    """

    def __init__(
        self,
        rpm: float | None = None,
        tpm: float | None = None,
        *,
        max_concurrency: int = 8,
        min_concurrency: int = 1,
        increase_after: int = 10,
        burst_seconds: float = 10.0,
        base_backoff: float = 1.0,
        max_backoff: float = 60.0,
        clock: Clock | None = None,
    ) -> None:
        self.clock: Clock = clock or SystemClock()
        self.rpm = rpm
        self.tpm = tpm
        burst = max(burst_seconds, 1e-9) / 60.0
        self._requests = (
            TokenBucket(rpm / 60.0, max(1.0, rpm * burst), self.clock) if rpm is not None else None
        )
        self._tokens = (
            TokenBucket(tpm / 60.0, max(1.0, tpm * burst), self.clock) if tpm is not None else None
        )
        self.governor = ConcurrencyGovernor(
            max_concurrency, min_concurrency=min_concurrency, increase_after=increase_after
        )
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.paused_until = float("-inf")
        self._backoff = base_backoff
        self._lock = asyncio.Lock()
        #: statistics
        self.requests = 0
        self.tokens_used = 0
        self.rate_limited = 0
        self.waited_seconds = 0.0

    def _wait_needed(self, tokens: int) -> float:
        wait = self.paused_until - self.clock.monotonic()
        if self._requests is not None:
            wait = max(wait, self._requests.delay(1))
        if self._tokens is not None and tokens > 0:
            wait = max(wait, self._tokens.delay(tokens))
        return wait

    async def acquire(self, tokens_estimate: int = 0) -> int:
        """Wait until one request of ``tokens_estimate`` tokens fits; returns the reservation.

        Waiters are served first-come first-served.
        """
        tokens = max(0, int(tokens_estimate))
        async with self._lock:
            while (wait := self._wait_needed(tokens)) > 0:
                self.waited_seconds += wait
                await self.clock.sleep(wait)
            if self._requests is not None:
                self._requests.take(1)
            if self._tokens is not None and tokens > 0:
                self._tokens.take(tokens)
            self.requests += 1
        return tokens

    def record(
        self, actual_tokens: int, estimated_tokens: int = 0, *, success: bool = True
    ) -> None:
        """Settle a request: charge/refund the difference to the estimate."""
        actual = max(0, int(actual_tokens))
        self.tokens_used += actual
        if self._tokens is not None:
            self._tokens.give_back(estimated_tokens - actual)
        if success:
            self._backoff = self.base_backoff
            self.governor.on_success()

    def on_rate_limited(self, retry_after: float | None = None) -> float:
        """A 429: pause every caller, drain the buckets, halve concurrency.

        Returns the pause in seconds from now.
        """
        self.rate_limited += 1
        if retry_after is not None and retry_after > 0:
            delay = float(retry_after)
        else:
            delay = self._backoff
            self._backoff = min(self.max_backoff, self._backoff * 2)
        now = self.clock.monotonic()
        self.paused_until = max(self.paused_until, now + delay)
        if self._requests is not None:
            self._requests.drain()
        self.governor.on_rate_limited()
        return self.paused_until - now

    async def wait_if_paused(self) -> None:
        """Sleep out a pause set by :meth:`on_rate_limited` (no-op otherwise)."""
        while (wait := self.paused_until - self.clock.monotonic()) > 0:
            await self.clock.sleep(wait)
