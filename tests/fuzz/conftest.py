"""The fuzzers' settings profile, and a guard that turns a hang into a test failure.

Bounded so the folder runs in well under a minute on two cores: ``FUZZ_EXAMPLES`` examples per test
(300 unless the ``INTERLOCK_FUZZ_EXAMPLES`` environment variable says otherwise, e.g. 5000 for a
long local run), no per-example deadline (a shared CI machine has slow moments), no example
database written into the checkout. Derandomized, so a CI run is reproducible and cannot fail on
a draw nobody can replay; ``INTERLOCK_FUZZ_RANDOM=1`` draws fresh examples for an exploring run
(hypothesis prints the falsifying example, which then becomes an ``@example``).
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import pytest
from hypothesis import HealthCheck, settings

from tests.steps.conftest import Harness, redis_harness

__all__ = ["FUZZ_EXAMPLES", "Hang", "harness", "no_hang", "redis_harness"]

FUZZ_EXAMPLES = int(os.environ.get("INTERLOCK_FUZZ_EXAMPLES", "300"))

settings.register_profile(
    "interlock-fuzz",
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("INTERLOCK_FUZZ_RANDOM") != "1",
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)

# Wall-clock seconds one call under fuzz may take before it counts as a hang.
HANG_SECONDS = 10.0


@pytest.fixture
def harness(redis_harness: Harness) -> Harness:
    """The step harness on the real Redis, for the API body fuzzer (an integration test)."""
    return redis_harness


class Hang(Exception):
    """A fuzzed call ran longer than HANG_SECONDS."""


@contextmanager
def no_hang(seconds: float = HANG_SECONDS) -> Iterator[None]:
    """Raise Hang if the block runs longer than ``seconds`` (SIGALRM; main thread only)."""
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds}s")

    # pytest-timeout may own SIGALRM already: put its handler and its remaining time back afterwards.
    previous = signal.signal(signal.SIGALRM, alarm)
    started = time.monotonic()
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer > 0:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
