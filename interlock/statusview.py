"""The operator views over the state index: pages of pipelines by name, and what needs attention.

The API (``GET /api/pipelines``), the status page and ``interlock status`` all read pipelines
through here, so a cursor, a limit and a state list mean the same everywhere. Nothing here reads
every pipeline: counts and pages come from the store's index (:mod:`interlock.store.status`).

Attention, in this order: failed pipelines; stuck ones (running for longer than the watchdog's
``stuckRunThreshold``); blocked ones whose SLA deadline for the blocked period has passed. At most
``limit`` of each, longest in the state first; of the blocked, only the ``SLA_CANDIDATES`` blocked
longest are checked against their deadlines (each needs its config), so an installation with more
blocked pipelines than that sees the oldest ones first and the full list under ``state=blocked``.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from interlock.errors import InvalidCursor, InvalidLimit, UnknownPipeline, UnknownState
from interlock.model import PipelineConfig
from interlock.schedule import find_schedule
from interlock.sla import window
from interlock.steps.deps import Deps
from interlock.store.status import STATES, PipelineStatus

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
# Rows of each kind of attention shown at most (failed, stuck, blocked past SLA).
ATTENTION_LIMIT = 50
# Blocked pipelines (longest blocked first) checked against their SLA deadlines per request.
SLA_CANDIDATES = 200
_CURSOR_PREFIX = "v1:"


def encode_cursor(name: str) -> str:
    """An opaque cursor: the page after ``name`` (the order is by name)."""
    return base64.urlsafe_b64encode((_CURSOR_PREFIX + name).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str:
    """The name a cursor continues after ("" for none); InvalidCursor for anything this module did not make."""
    if not cursor:
        return ""
    try:
        if len(cursor) > 2048:
            raise ValueError("too long")
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        text = ""
    if not text.startswith(_CURSOR_PREFIX) or len(text) == len(_CURSOR_PREFIX):
        raise InvalidCursor(f"{cursor[:60]!r} is not a cursor: pass the nextCursor of a previous answer", "cursor")
    return text[len(_CURSOR_PREFIX):]


def parse_limit(raw: str | int | None, default: int = DEFAULT_LIMIT) -> int:
    if raw is None or raw == "":
        return default
    text = str(raw).strip()
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise InvalidLimit(f"limit must be a whole number from 1 to {MAX_LIMIT}, not {str(raw)[:40]!r}", "limit")
    return int(text)


def parse_states(raw: str | None) -> list[str]:
    """A comma list of states (``failed,blocked``) → the states; UnknownState names the first unknown one."""
    states = [s.strip().lower() for s in (raw or "").split(",") if s.strip()]
    for state in states:
        if state not in STATES:
            raise UnknownState(f"unknown state {state[:40]!r}; the states are: {', '.join(STATES)}", "state")
    return list(dict.fromkeys(states))


@dataclass(frozen=True)
class Page:
    items: list[PipelineStatus]
    next_cursor: str | None


def page(deps: Deps, states: list[str], cursor: str | None, limit: int, contains: str = "") -> Page:
    """One page of pipelines by name; ``next_cursor`` is None on the last page."""
    rows = deps.store.list_statuses(states, decode_cursor(cursor), limit + 1, contains)
    more = len(rows) > limit
    return Page(rows[:limit], encode_cursor(rows[limit - 1].name) if more else None)


@dataclass(frozen=True)
class Attention:
    kind: str  # failed | stuck | late (blocked past its SLA deadline)
    status: PipelineStatus
    why: str

    def to_json(self) -> dict[str, object]:
        return {"kind": self.kind, "why": self.why, **self.status.to_json()}


def _deadline_passed(config: PipelineConfig, row: PipelineStatus, now: datetime) -> str | None:
    for name, sched in sorted(row.schedules.items()):
        if sched.state != "blocked":
            continue
        try:
            w = window(config, find_schedule(config, name), sched.period)
        except Exception:  # a schedule or period the config no longer has: nothing to hold it to
            continue
        for kind, deadline in (("evaluation", w.evaluation_deadline), ("completion", w.completion_deadline)):
            if deadline is not None and deadline <= now:
                return f"blocked past its {kind} deadline {deadline:%Y-%m-%d %H:%M} UTC ({name} {sched.period})"
    return None


def attention(deps: Deps, limit: int = ATTENTION_LIMIT) -> list[Attention]:
    now = deps.clock.now()
    found = [Attention("failed", r, "failed: " + ", ".join(f"{s} {v.period}" for s, v in sorted(r.schedules.items())
                                                            if v.state == "failed"))
             for r in deps.store.oldest_in_state("failed", limit)]
    threshold = deps.project.settings.stuck_run_threshold
    found += [Attention("stuck", r, f"running for more than {threshold}")
              for r in deps.store.oldest_in_state("running", limit, before=now - threshold)]
    late = 0
    for row in deps.store.oldest_in_state("blocked", SLA_CANDIDATES):
        try:
            config = deps.store.get_pipeline(row.name)
        except UnknownPipeline:
            continue
        why = _deadline_passed(config, row, now)
        if why:
            found.append(Attention("late", row, why))
            late += 1
            if late >= limit:
                break
    return found
