from __future__ import annotations

import asyncio

import pytest

from llmx._errors import ConfigError
from llmx._ratelimit import (
    ConcurrencyGovernor,
    FakeClock,
    RateLimiter,
    TokenBucket,
    estimate_tokens,
)


def test_token_bucket_math() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate_per_second=2.0, capacity=4.0, clock=clock)
    assert bucket.delay(4) == 0
    bucket.take(4)
    assert bucket.delay(1) == pytest.approx(0.5)
    clock.advance(1.0)
    assert bucket.delay(2) == 0
    # a request bigger than the capacity waits for a full bucket, then goes into debt
    assert bucket.delay(100) == pytest.approx(1.0)
    clock.advance(1.0)
    assert bucket.delay(100) == 0
    bucket.take(100)
    assert bucket.level == pytest.approx(-96)
    assert bucket.delay(1) == pytest.approx(97 / 2)


def test_bucket_rejects_nonpositive_rates() -> None:
    with pytest.raises(ConfigError):
        TokenBucket(0, 1, FakeClock())


async def test_rpm_spacing_after_burst() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, clock=clock, burst_seconds=5)  # 1/s, burst 5
    for _ in range(5):
        await limiter.acquire()
    assert clock.now == 0
    for _ in range(10):
        await limiter.acquire()
    assert clock.now == pytest.approx(10.0)
    assert limiter.requests == 15


async def test_tpm_limit_and_record_adjusts_to_actual() -> None:
    clock = FakeClock()
    limiter = RateLimiter(tpm=6000, clock=clock, burst_seconds=10)  # 100 tok/s, cap 1000
    reserved = await limiter.acquire(1000)
    assert clock.now == 0
    # the request actually used only 200 tokens: 800 come back
    limiter.record(200, reserved)
    await limiter.acquire(800)
    assert clock.now == 0
    await limiter.acquire(500)  # bucket empty: 500 tokens at 100/s
    assert clock.now == pytest.approx(5.0)
    # under-estimate: 500 reserved, 1500 used -> 1000 tokens of debt to wait off
    limiter.record(1500, 500)
    await limiter.acquire(100)
    assert clock.now == pytest.approx(5.0 + 11.0)
    assert limiter.tokens_used == 1700


async def test_unlimited_limiter_never_waits() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    for _ in range(1000):
        await limiter.acquire(10**6)
    assert clock.now == 0


async def test_rate_limited_pauses_everyone_with_retry_after() -> None:
    clock = FakeClock(100.0)
    limiter = RateLimiter(rpm=6000, clock=clock, max_concurrency=8)
    assert limiter.on_rate_limited(7.5) == pytest.approx(7.5)
    await limiter.acquire()
    assert clock.now == pytest.approx(107.5)
    assert limiter.governor.limit == 4
    assert limiter.rate_limited == 1


async def test_backoff_doubles_without_retry_after_and_resets_on_success() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock, base_backoff=1, max_backoff=4)
    pauses = [limiter.on_rate_limited(None) for _ in range(4)]
    # each pause extends from "now" (time does not move here): 1, 2, 4, 4(cap)
    assert pauses == [1, 2, 4, 4]
    limiter.record(10)
    assert limiter.on_rate_limited(None) == 4  # paused_until is still now + 4
    clock.advance(10)
    limiter.record(10)
    assert limiter.on_rate_limited(None) == 1


async def test_wait_if_paused() -> None:
    clock = FakeClock()
    limiter = RateLimiter(clock=clock)
    await limiter.wait_if_paused()
    assert clock.now == 0
    limiter.on_rate_limited(3)
    await limiter.wait_if_paused()
    assert clock.now == pytest.approx(3)


def test_governor_aimd() -> None:
    gov = ConcurrencyGovernor(8, increase_after=3)
    assert gov.on_rate_limited() is True
    assert gov.limit == 4
    gov.on_rate_limited()
    gov.on_rate_limited()
    gov.on_rate_limited()
    assert gov.limit == 1  # never below the minimum
    for _ in range(3 * 10):
        gov.on_success()
    assert gov.limit == 8  # +1 per 3 successes, capped at the max
    for _ in range(3):
        gov.on_success()
    assert gov.limit == 8


async def test_governor_one_burst_halves_once() -> None:
    gov = ConcurrencyGovernor(8)
    # four requests in flight under generation 0 all hit 429
    async with gov.slot() as g0:
        assert g0 == 0
        assert gov.on_rate_limited() is True
        assert gov.limit == 4
        assert gov.on_rate_limited() is False  # same burst: ignored
        assert gov.on_rate_limited(generation=0) is False
    async with gov.slot() as g1:
        assert g1 == 1
        assert gov.on_rate_limited() is True  # a request issued after the cut: cut again
    assert gov.limit == 2


async def test_governor_bounds_in_flight() -> None:
    gov = ConcurrencyGovernor(3)
    gov.on_rate_limited()  # limit 1
    active = 0
    peak = 0

    async def job() -> None:
        nonlocal active, peak
        async with gov.slot():
            active += 1
            peak = max(peak, active)
            await asyncio.sleep(0.001)
            active -= 1
            gov.on_success()

    await asyncio.gather(*(job() for _ in range(40)))
    assert peak >= 1
    assert gov.max_in_flight_seen <= 3
    assert gov.in_flight == 0


async def test_governor_waiter_cancellation_passes_turn_on() -> None:
    gov = ConcurrencyGovernor(1)
    await gov.acquire()
    waiter_a = asyncio.create_task(gov.acquire())
    waiter_b = asyncio.create_task(gov.acquire())
    await asyncio.sleep(0)
    gov.release()  # wakes A
    waiter_a.cancel()
    await asyncio.sleep(0)
    await asyncio.wait_for(waiter_b, 1)  # B must get the slot A gave up
    assert gov.in_flight == 1


async def test_limiter_serves_waiters_fifo() -> None:
    clock = FakeClock()
    limiter = RateLimiter(rpm=60, clock=clock, burst_seconds=1)
    order: list[int] = []

    async def req(i: int) -> None:
        await limiter.acquire()
        order.append(i)

    await asyncio.gather(*(req(i) for i in range(5)))
    assert order == [0, 1, 2, 3, 4]
    assert clock.now == pytest.approx(4.0)


def test_estimate_tokens() -> None:
    assert estimate_tokens("abcd" * 100) == 100
    assert estimate_tokens("中文字符") == 4
    assert estimate_tokens("", max_output_tokens=50) == 50
