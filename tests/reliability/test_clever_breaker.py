"""The per-host circuit breaker, on a clock the test moves."""

from __future__ import annotations

import asyncio

import pytest

from app.clever.breaker import BreakerPolicy, CircuitBreaker, CircuitOpen
from tests.support.clock import Clock


def breaker(clock: Clock, threshold: int = 3, open_seconds: float = 5.0) -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(failure_threshold=threshold, open_seconds=open_seconds, clock=clock))


async def fail(circuit: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        await circuit.admit(max_wait=0)
        circuit.failed()


async def probe_out_and_one_waiting() -> tuple[CircuitBreaker, asyncio.Task[None]]:
    """A circuit past its open period whose probe is out, and a second attempt waiting on it."""
    clock = Clock(now=100.0)
    circuit = breaker(clock)
    await fail(circuit, 3)
    clock.now += 5
    assert circuit.state == "half_open"
    await circuit.admit(max_wait=0)  # the probe
    waiter = asyncio.create_task(circuit.admit(max_wait=5))
    await asyncio.sleep(0.01)
    return circuit, waiter


async def test_it_opens_after_a_run_of_failures_only() -> None:
    clock = Clock(now=100.0)
    circuit = breaker(clock)
    await fail(circuit, 2)
    await circuit.admit(max_wait=0)
    circuit.succeeded()  # the run is broken
    await fail(circuit, 2)
    assert circuit.state == "closed"
    await fail(circuit, 1)
    assert circuit.state == "open"
    clock.now += 2
    with pytest.raises(CircuitOpen) as refused:
        await circuit.admit(max_wait=10)
    assert refused.value.retry_after == pytest.approx(3.0)


async def test_after_the_open_period_one_probe_goes_and_its_success_closes_the_circuit() -> None:
    circuit, waiter = await probe_out_and_one_waiting()
    assert not waiter.done()  # waits for the probe rather than failing its login
    circuit.succeeded()
    await asyncio.wait_for(waiter, 1)
    assert circuit.state == "closed"


async def test_a_failed_probe_opens_it_again_for_everyone_waiting() -> None:
    circuit, waiter = await probe_out_and_one_waiting()
    circuit.failed()
    with pytest.raises(CircuitOpen):
        await asyncio.wait_for(waiter, 1)
    assert circuit.state == "open"


async def test_an_abandoned_probe_lets_the_next_attempt_probe() -> None:
    circuit, waiter = await probe_out_and_one_waiting()
    circuit.abandoned()
    await asyncio.wait_for(waiter, 1)  # it is the probe now
    assert circuit.state == "half_open"
    with pytest.raises(CircuitOpen):
        await circuit.admit(max_wait=0)  # and a third waits, but not at all here
