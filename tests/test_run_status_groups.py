"""The groups of run statuses (active, started, succeeded, unsuccessful, terminal) are defined once.

Modules that ask "is this period being worked on?" or "is it done?" must agree; when each wrote its
own tuple of statuses, a status added to one place and not the others made them disagree.
"""

from __future__ import annotations

import ast
from pathlib import Path

from interlock import lifecycle
from interlock.model import (
    ACTIVE_RUN_STATUSES,
    STARTED_RUN_STATUSES,
    SUCCEEDED_RUN_STATUSES,
    TERMINAL_RUN_STATUSES,
    UNSUCCESSFUL_RUN_STATUSES,
    RunStatus,
)

ROOT = Path(__file__).resolve().parent.parent
# Where a group of statuses may be written out: the definitions, and the state machine's table.
ALLOWED = {Path("interlock/model.py"), Path("interlock/lifecycle.py")}


def test_every_status_is_in_exactly_one_of_active_succeeded_unsuccessful() -> None:
    groups = (ACTIVE_RUN_STATUSES, SUCCEEDED_RUN_STATUSES, UNSUCCESSFUL_RUN_STATUSES)
    assert sorted(s for g in groups for s in g) == sorted(RunStatus)


def test_terminal_statuses_are_those_the_state_machine_never_leaves() -> None:
    assert {s for s, moves in lifecycle.TRANSITIONS.items() if not moves} == TERMINAL_RUN_STATUSES
    assert ACTIVE_RUN_STATUSES - {RunStatus.PENDING} == STARTED_RUN_STATUSES


def test_no_module_writes_out_its_own_group_of_run_statuses() -> None:
    """A tuple, list or set of two or more ``RunStatus.X`` outside model.py and lifecycle.py is a copy."""
    copies = []
    for folder in ("interlock", "workers", "lambdas"):
        for file in sorted((ROOT / folder).rglob("*.py")):
            rel = file.relative_to(ROOT)
            if rel in ALLOWED:
                continue
            for node in ast.walk(ast.parse(file.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.Tuple | ast.List | ast.Set):
                    continue
                members = [e for e in node.elts if isinstance(e, ast.Attribute)
                           and isinstance(e.value, ast.Name) and e.value.id == "RunStatus"]
                if len(members) >= 2:
                    copies.append(f"{rel}:{node.lineno}")
    assert copies == []
