"""Domain errors: what a caller asked for that cannot be done, each with a stable ``code``.

Steps and the store raise these; the edges map them once: the API to an HTTP status
(:mod:`interlock.api.errors`), the CLI to an exit code (:mod:`interlock.cli.common`), by the family
an error belongs to: :class:`NotFound`, :class:`BadInput` or :class:`Conflict`.

None of them is a ``KeyError``/``LookupError``/``ValueError``: a step that means "an unknown
pipeline" catches exactly that, and a real bug (a missing dict key in our own code) is never
mistaken for one. The codes are part of the API contract; the messages are for people.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class DomainError(Exception):
    """Base of every domain error: a stable ``code`` and a message for people."""

    code: ClassVar[str] = "bad_request"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


# -- families: the edges map these (not each error) to a status / exit code ----------------------


class NotFound(DomainError):
    """Something the caller named does not exist (or has expired)."""

    code = "not_found"


class BadInput(DomainError):
    """A value the caller sent is not acceptable; ``path`` names the field (``trigger.dag_id``) when one is to blame.

    The message reads on its own (it names the field in words); ``path`` is for machines: the API
    returns it in the error's details.
    """

    code = "bad_request"

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class Conflict(DomainError):
    """The request is well-formed but the current state does not allow it."""

    code = "conflict"


# -- unknown things --------------------------------------------------------------------------------


class UnknownPipeline(NotFound):
    """A pipeline that is neither in the project files nor registered in the store."""

    code = "pipeline_not_found"

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown pipeline {name!r}")
        self.name = name


class UnknownSchedule(NotFound):
    code = "schedule_not_found"

    def __init__(self, pipeline: str, schedule: str, known: Sequence[str]) -> None:
        super().__init__(f"pipeline {pipeline!r} has no schedule {schedule!r} (it has: {', '.join(known)})")
        self.pipeline = pipeline
        self.schedule = schedule


class UnknownTrait(NotFound):
    code = "trait_not_found"

    def __init__(self, pipeline: str, trait: str, known: Sequence[str]) -> None:
        super().__init__(f"pipeline {pipeline!r} has no trait {trait!r} (it has: {', '.join(known)})")
        self.pipeline = pipeline
        self.trait = trait


class UnknownRun(NotFound):
    code = "run_not_found"

    def __init__(self, run_id: str) -> None:
        super().__init__(f"unknown run {run_id!r}")
        self.run_id = run_id


class UnknownRerun(NotFound):
    code = "rerun_not_found"

    def __init__(self, rerun_id: str) -> None:
        super().__init__(f"unknown rerun {rerun_id!r}")
        self.rerun_id = rerun_id


class UnknownPeriod(NotFound):
    """A period key that names no period of the schedule (a bad date, not a fire time of the cron)."""

    code = "period_not_found"


# -- bad input -------------------------------------------------------------------------------------


class BadPush(BadInput):
    """A push that names no trait of the pipeline or carries an unusable value."""

    code = "invalid_push"


class InvalidStepRequest(BadInput):
    """Arguments a step refuses: ``problems`` is a list of (field, reason)."""

    code = "invalid_step_request"

    def __init__(self, step: str, problems: list[tuple[str, str]]) -> None:
        self.step = step
        self.problems = problems
        super().__init__(f"invalid {step} request: " + "; ".join(f"{field}: {why}" for field, why in problems),
                         problems[0][0] if problems else None)


# -- conflicts -------------------------------------------------------------------------------------


class UnknownArchetype(Conflict):
    """The pipeline names an archetype this process has not loaded: the project, not the request, is off."""

    code = "archetype_not_loaded"

    def __init__(self, pipeline: str, name: str) -> None:
        super().__init__(f"pipeline {pipeline!r} names archetype {name!r}, which is not loaded")


class InvalidTransition(Conflict):
    """A run move the state machine does not allow; names both states (and, given, what was tried)."""

    code = "invalid_transition"

    def __init__(self, source: str, target: str, doing: str | None = None) -> None:
        moved = f"invalid transition from {source} to {target}"
        super().__init__(f"{doing}: {moved}" if doing else moved)


class ClaimLost(Conflict):
    """A period's claim changed hands (or expired) while it was being read; trying again settles it."""

    code = "claim_lost"

    def __init__(self, key: str) -> None:
        super().__init__(f"the claim {key!r} expired while it was being read; try again")
        self.key = key


class ClaimNotReplicated(Conflict):
    """A claim no replica acknowledged in time (``redis.minReplicasAcked``): withdrawn, its job not started."""

    code = "claim_not_replicated"

    def __init__(self, key: str) -> None:
        super().__init__(f"the claim {key!r} was not acknowledged by a Redis replica in time: the job was not "
                         "started and the claim was withdrawn; it is tried again")
        self.key = key


class RerunWithoutNewData(Conflict):
    """A manual rerun asked for when no trait result arrived after the period's last run (``force`` overrides)."""

    code = "rerun_without_new_data"

    def __init__(self, pipeline: str, period: str, last_run: str, last_at: str, newest_trait: str | None) -> None:
        newest = f"the newest trait result is from {newest_trait}" if newest_trait else "no trait result is stored"
        super().__init__(f"pipeline {pipeline!r} period {period}: no new data since the last run {last_run} "
                         f"(started {last_at}); {newest}. Rerunning would read the same data: push or wait for "
                         "new trait results, or force it (CLI --force, API \"force\": true)")
        self.last_run = last_run
        self.newest_trait = newest_trait


class RerunBudgetExhausted(Conflict):
    """The pipeline's ``retry.maxManualReruns`` for this period is used up."""

    code = "rerun_budget_exhausted"

    def __init__(self, pipeline: str, period: str, budget: str, limit: int) -> None:
        super().__init__(f"pipeline {pipeline!r} period {period}: the rerun budget retry.{budget} ({limit}) is "
                         "used up; raise it in the pipeline's retry block to allow more")
        self.budget = budget


# -- paged, filtered operator views (interlock.statusview) -----------------------------------------


class InvalidCursor(BadInput):
    code = "invalid_cursor"


class InvalidLimit(BadInput):
    code = "invalid_limit"


class UnknownState(BadInput):
    code = "unknown_state"
