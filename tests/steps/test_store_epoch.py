"""A wiped or swapped store: detected by the epoch, alerted once, healed, and no period fired twice.

Each ``Deps`` here stands for one process (a worker, Beat, the CLI) sharing the real Redis store;
wiping the store is deleting every key under its prefix, as FLUSHALL or an empty restart would.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from interlock.archive.archiver import Archiver
from interlock.archive.queries import change_stream_name
from interlock.clock import FrozenClock
from interlock.model import EventKind, RunStatus
from interlock.steps import epoch
from interlock.steps.advance import Outcome, advance
from interlock.steps.deps import Deps
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.keys import advance_key
from interlock.steps.prior_runs import PriorRunUnknown
from interlock.steps.reconcile import reconcile
from interlock.store.base import Epoch
from tests.archive.conftest import database_url, engine, migrated  # noqa: F401  (fixtures)
from tests.steps.conftest import Harness

pytestmark = pytest.mark.integration

NOON = datetime(2026, 3, 2, 12, tzinfo=UTC)
PERIOD = "2026-03-02"


@pytest.fixture
def harness(redis_harness: Harness) -> Harness:
    """The real Redis alone: these tests wipe the store's keys as FLUSHALL would."""
    return redis_harness


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock(NOON)


def project(harness: Harness, fired: Path, archive_url: str | None = None) -> None:
    """Two pipelines on pushed markers; `orders` appends a line to ``fired`` each time it is triggered."""
    harness.archetype("marked", ["ready-marker"])
    harness.pipeline("orders", "marked", {"ready-marker": None},
                     extra=f"trigger:\n  type: command\n  command: {{command: 'echo fired >> {fired}', shell: true}}\n")
    harness.pipeline("refunds", "marked", {"ready-marker": None},
                     extra="trigger:\n  type: command\n  command: {command: 'true'}\n")
    if archive_url:
        harness.extra = f"archiver: {{enabled: true, dsn: '{archive_url}'}}\n"


def wire(deps: Deps) -> Deps:
    """``deps`` running the trigger and advance steps it asks for (the rest left to the due index)."""
    return InlineDispatcher(deps, only={"trigger", "advance"}).deps


def process(harness: Harness, clock: FrozenClock) -> Deps:
    """One more process of the deployment: its own Deps, having seen the store's epoch at start."""
    deps = wire(harness.deps(clock))
    epoch.verify(deps)
    return deps


def push_marker(deps: Deps, pipeline: str = "orders") -> Outcome:
    from interlock.steps.push import push_trait

    push_trait(deps, pipeline, "ready-marker", "PASS")
    return advance(deps, pipeline, "daily")


def resets(harness: Harness) -> list[str]:
    return [a.message for a in harness.store.list_all_alerts() if a.alert_type == "store_reset"]


def test_processes_share_the_epoch_written_at_the_first_start(harness: Harness, clock: FrozenClock,
                                                              tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    first, second = process(harness, clock), process(harness, clock)
    stored = harness.store.get_epoch()
    assert stored is not None and stored.reset_at is None
    assert first.seen_epoch is not None and second.seen_epoch is not None
    assert first.seen_epoch.id == second.seen_epoch.id == stored.id
    assert not epoch.verify(first).reset
    assert resets(harness) == []


def test_a_wiped_store_is_healed_by_the_next_reconcile_pass_with_one_alert(harness: Harness, clock: FrozenClock,
                                                                          tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    beat, worker = process(harness, clock), process(harness, clock)
    lost = harness.store.get_epoch()
    harness.store.purge()  # Redis restarted empty
    assert harness.store.list_pipelines() == []

    reconcile(beat)

    assert sorted(p.name for p in harness.store.list_pipelines()) == ["orders", "refunds"]
    for name in ("orders", "refunds"):  # due again, so the next pass looks at them
        assert harness.store.due_at(advance_key(name, "daily")) is not None
        assert EventKind.STORE_RESET in [e.event.kind for e in harness.store.list_events(name)]
    healed = harness.store.get_epoch()
    assert healed is not None and lost is not None
    assert healed.id != lost.id and healed.reset_at == NOON and healed.previous == lost.id
    # The other process adopts the healed epoch: no second heal, no second alert.
    assert epoch.verify(worker).reset
    reconcile(worker)
    reconcile(beat)
    assert len(resets(harness)) == 1
    assert "configure the archive" in resets(harness)[0]  # none configured here: said in the alert


def test_a_swapped_store_is_healed_too(harness: Harness, clock: FrozenClock, tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    beat = process(harness, clock)
    seen = harness.store.get_epoch()
    assert seen is not None
    harness.store.swap_epoch(seen.id, Epoch("another-store", NOON - timedelta(days=30)))

    reconcile(beat)

    healed = harness.store.get_epoch()
    assert healed is not None and healed.reset_at == NOON
    [message] = resets(harness)
    assert "and it holds epoch another-store" in message


def test_a_process_started_after_the_wipe_does_not_hide_it_from_the_others(harness: Harness, clock: FrozenClock,
                                                                           tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    beat = process(harness, clock)
    harness.store.purge()
    late = process(harness, clock)  # e.g. a CLI push: no archive, so it takes the empty store for new
    clock.advance(timedelta(seconds=2))

    reconcile(beat)  # Beat still knows the old epoch: the store it sees is another one
    assert len(resets(harness)) == 1
    assert epoch.verify(late).reset  # and the late process adopts the heal instead of healing again
    assert len(resets(harness)) == 1


def test_many_processes_finding_the_wipe_at_once_heal_it_once(harness: Harness, clock: FrozenClock,
                                                             tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    fleet = [process(harness, clock) for _ in range(8)]
    harness.store.purge()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(epoch.verify, fleet))
    for deps in fleet:  # the ones that found the heal under way settle on the next check
        epoch.verify(deps)
    assert len(resets(harness)) == 1
    stored = harness.store.get_epoch()
    assert stored is not None and {d.seen_epoch.id for d in fleet if d.seen_epoch} == {stored.id}


def test_without_an_archive_a_period_that_ran_before_the_wipe_runs_again(harness: Harness, clock: FrozenClock,
                                                                        tmp_path: Path) -> None:
    fired = tmp_path / "fired"
    project(harness, fired)
    worker = process(harness, clock)
    assert push_marker(worker) is Outcome.TRIGGERED
    harness.store.purge()
    harness.deps(clock)  # the push command registers the project again
    assert push_marker(worker) is Outcome.TRIGGERED
    assert fired.read_text().count("fired") == 2  # the documented limit, said in the alert
    assert "periods that ran before the reset may run again" in resets(harness)[0]


def archive_now(deps: Deps, archive: Engine) -> None:
    Archiver(deps.store, archive, change_stream_name(deps.project.settings.key_prefix)).run_once()


def test_with_the_archive_a_period_that_ran_before_the_wipe_is_not_triggered_again(
        harness: Harness, clock: FrozenClock, tmp_path: Path, database_url: str,  # noqa: F811
        migrated: Engine) -> None:  # noqa: F811
    fired = tmp_path / "fired"
    project(harness, fired, database_url)
    worker = process(harness, clock)
    assert push_marker(worker) is Outcome.TRIGGERED
    archive_now(worker, migrated)
    harness.store.purge()
    harness.deps(clock)  # the push command registers the project again
    clock.advance(timedelta(minutes=5))

    assert push_marker(worker) is Outcome.TRIGGERED  # ready again; the trigger step asks the archive
    assert fired.read_text().count("fired") == 1
    entry = harness.store.get_run_log("orders", PERIOD, "daily")
    assert entry is not None and entry.status is RunStatus.COMPLETED and entry.run_id == f"orders-daily-{PERIOD}-1"
    assert harness.store.get_run(entry.run_id).status is RunStatus.COMPLETED
    assert EventKind.RUN_RESTORED in [e.event.kind for e in harness.store.list_events("orders")]
    assert push_marker(worker) is Outcome.DONE
    [message] = resets(harness)
    assert "the archive is asked" in message
    # A pipeline that had not run yet is triggered as usual.
    assert push_marker(worker, "refunds") is Outcome.TRIGGERED
    assert harness.store.get_run_log("refunds", PERIOD, "daily") is not None


def test_a_store_emptied_while_every_process_was_down_is_told_from_a_first_start(
        harness: Harness, clock: FrozenClock, tmp_path: Path, database_url: str,  # noqa: F811
        migrated: Engine) -> None:  # noqa: F811
    fired = tmp_path / "fired"
    project(harness, fired, database_url)
    worker = process(harness, clock)
    assert push_marker(worker) is Outcome.TRIGGERED
    archive_now(worker, migrated)
    harness.store.purge()

    restarted = wire(_unregistered_deps(harness, clock))
    check = epoch.verify(restarted)  # nothing registered, no epoch, but the archive has this store's history

    assert check.reset and len(resets(harness)) == 1
    assert "emptied while every process was down" in resets(harness)[0]
    assert push_marker(restarted) is Outcome.TRIGGERED
    assert fired.read_text().count("fired") == 1


def _unregistered_deps(harness: Harness, clock: FrozenClock) -> Deps:
    """A process that has just started: Deps built, nothing registered yet (it verifies first)."""
    from interlock.alerts import AlertDispatcher
    from interlock.config import load_project

    project = load_project(harness.root / "interlock.yaml", env={})
    return Deps(project, harness.store, clock=clock, alerts=AlertDispatcher(harness.store, []))


def test_after_a_reset_an_unreachable_archive_keeps_the_period_unclaimed(harness: Harness, clock: FrozenClock,
                                                                       tmp_path: Path) -> None:
    fired = tmp_path / "fired"
    project(harness, fired, "postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
    worker = process(harness, clock)
    harness.store.purge()
    harness.deps(clock)
    with pytest.raises(PriorRunUnknown, match="cannot ask the archive"):
        push_marker(worker)
    assert not fired.exists()
    assert harness.store.list_runs("orders") == []


def test_a_damaged_epoch_is_healed_like_a_missing_one(harness: Harness, clock: FrozenClock, tmp_path: Path) -> None:
    project(harness, tmp_path / "fired")
    beat = process(harness, clock)
    harness.store.r.delete(harness.store.k("epoch"))
    harness.store.r.set(harness.store.k("epoch"), "not a hash")  # someone wrote over it

    reconcile(beat)  # the pass is not broken by it: the store is healed and reconciled

    healed = harness.store.get_epoch()
    assert healed is not None and healed.reset_at == NOON
    assert len(resets(harness)) == 1
