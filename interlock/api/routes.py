"""The HTTP routes, each a thin adapter over the same steps the CLI and workers run.

Domain errors the steps raise (an unknown pipeline, schedule or run, a bad push, a finished run)
are left to propagate: :mod:`interlock.api.errors` gives each its status and code in one place.
"""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StrictBool, ValidationError
from pydantic_core import to_json

from interlock import __version__, correlation, tracing
from interlock.api.errors import ApiError
from interlock.api.strict import StrictJsonRoute
from interlock.config.errors import format_path
from interlock.config.evaluator_refs import EvaluatorKind, classify, in_evaluator_dirs
from interlock.config.loader import check_pipeline
from interlock.errors import UnknownPipeline, UnknownRerun, UnknownSchedule
from interlock.model import (
    DEFAULT_SCHEDULE,
    STARTED_RUN_STATUSES,
    PipelineConfig,
    ReadinessResult,
    RerunRecord,
    RunLogEntry,
    RunState,
    TraitEvaluation,
    TriggerType,
)
from interlock.periods import period_for_key
from interlock.redaction import referenced_names
from interlock.schedule import find_schedule
from interlock.statusview import page, parse_limit, parse_states
from interlock.steps.advance import run_now
from interlock.steps.deps import Deps
from interlock.steps.dispatch import request_advance
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import advance_key
from interlock.steps.push import PushRequest, record_push
from interlock.steps.reconcile import ensure_scheduled
from interlock.steps.reruns import request_rerun
from interlock.steps.runs import complete_run
from interlock.store.base import TraitSource

router = APIRouter(prefix="/api", route_class=StrictJsonRoute)

# Bytes of events (as JSON) one GET .../events answer carries at most, beyond its first event.
EVENTS_PAGE_BYTES = 1_048_576
# An event cursor: a Redis stream id (ms-seq) or a DynamoDB sequence number, each part below 2**64.
EVENT_CURSOR = r"^[0-9]{1,20}(-[0-9]{1,20})?$"

# Responses are the records' JSON: empty fields left out; pipelines exactly as they were given.
OUT: dict[str, Any] = {"response_model_exclude_none": True}
AS_GIVEN: dict[str, Any] = {"response_model_exclude_none": True, "response_model_exclude_unset": True}

Json = dict[str, Any]


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps




class CompleteBody(BaseModel):
    status: Literal["success", "failed"]
    metadata: dict[str, Any] | None = None
    message: str | None = Field(default=None, max_length=10_000)


class RerunBody(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    # A period key: a date for a daily schedule, a local start (2026-03-01T1400) for a cron one.
    date: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{4}([pm][0-9]{4})?)?$")
    schedule: str | None = None
    description: str | None = None
    # Rerun even when no trait result arrived after the period's last run (409 rerun_without_new_data otherwise).
    force: StrictBool = False


@router.get("/health", summary="Liveness and store connectivity (no API key needed)")
def health(request: Request) -> Json:
    try:
        deps_of(request).store.ping()
        return {"status": "ok", "version": __version__}
    except Exception:
        return {"status": "degraded", "version": __version__}


@router.get("/pipelines", summary="Registered pipelines: a page by name, filtered by state and name",
            description="With any of `limit`, `cursor`, `state`, `q`: one page, `{\"items\": [...], \"nextCursor\": "
                        "..., \"counts\": {state: n}}`, items in name order, each the pipeline's state row plus its "
                        "config (`pipeline`). `limit` 1-1000 (default 100); `cursor` the previous answer's "
                        "`nextCursor` (absent on the last page); `state` a comma list of failed, running, blocked, "
                        "completed, waiting; `q` a name substring. Bad values: 400 `invalid_limit`, "
                        "`invalid_cursor`, `unknown_state`. Without any of them: every pipeline's config as a "
                        "list (the answer before paging existed; kept for old clients, slow past a few thousand).")
def list_pipelines(request: Request, response: Response, limit: str | None = Query(None, max_length=20),
                   cursor: str | None = Query(None, max_length=2048), state: str | None = Query(None, max_length=200),
                   q: str | None = Query(None, max_length=200)) -> Any:
    deps = deps_of(request)
    if limit is None and cursor is None and state is None and q is None:
        return [p.to_json() for p in deps.store.list_pipelines()]
    size = parse_limit(limit)
    found = page(deps, parse_states(state), cursor, size, q or "")
    items = []
    for row in found.items:
        try:
            config: Json | None = deps.store.get_pipeline(row.name).to_json()
        except UnknownPipeline:  # deleted since the page was read
            config = None
        items.append({**row.to_json(), "pipeline": config})
    if found.next_cursor:
        query = {k: v for k, v in (("limit", size), ("state", state), ("q", q)) if v}
        response.headers["X-Next-Cursor"] = found.next_cursor
        response.headers["Link"] = (f'<{request.url.path}?{urlencode({**query, "cursor": found.next_cursor})}>; '
                                    'rel="next"')
    return {"items": items, "nextCursor": found.next_cursor, "counts": deps.store.state_counts()}


@router.post("/pipelines", status_code=201,
             summary="Register (or replace) a pipeline", response_model=PipelineConfig, **AS_GIVEN)
def register_pipeline(request: Request, body: dict[str, Any]) -> Json:
    deps = deps_of(request)
    try:
        config = PipelineConfig.model_validate(body)
    except ValidationError as exc:
        problems = [{"path": format_path(tuple(e["loc"])), "message": e["msg"]} for e in exc.errors()]
        raise ApiError(400, "invalid_pipeline", "the pipeline is not valid; see details", problems) from None
    if config.trigger is not None and config.trigger.type is TriggerType.COMMAND:
        raise ApiError(400, "command_trigger_forbidden",
                       "command triggers run programs on the workers; define them in pipeline files, not via the API")
    # The same holds for executable evaluators: through the API only the project's own evaluators
    # (evaluatorDirs) may be named, never /bin/sh or anything else on PATH fed a config we were sent.
    for trait_type, trait in (config.traits or {}).items():
        ref = trait.evaluator if trait else None
        if classify(ref) is EvaluatorKind.COMMAND and not in_evaluator_dirs(ref, deps.project.root,
                                                                            deps.project.evaluator_dirs()):
            raise ApiError(400, "evaluator_forbidden",
                           f"traits.{trait_type}.evaluator: via the API an executable evaluator must be one of the "
                           "project's evaluatorDirs; use builtin:, http(s):// or push, or define it in a pipeline file")
        # builtin:object-exists on a local path would let an API key holder list the workers' files.
        url = (trait.config or {}).get("url") if trait else None
        if (ref or "").strip() == "builtin:object-exists" and isinstance(url, str) and not url.startswith("s3://"):
            raise ApiError(400, "evaluator_forbidden",
                           f"traits.{trait_type}.config.url: via the API builtin:object-exists may only look in S3 "
                           "(s3://); local paths are for pipeline files")
    # ${INTERLOCK_*} values are the operator's secrets: a pipeline sent over the API must not be able to
    # send them to a URL of its choosing, nor query the database one names (builtin:sql's url).
    names = sorted(set(referenced_names([body.get("trigger"), body.get("traits")])))
    if names:
        raise ApiError(400, "secret_reference_forbidden",
                       f"${{{names[0]}}}: environment variables can only be used in pipeline files, not via the API")
    problems = [{"path": format_path(path), "message": message} for path, message in check_pipeline(body, deps.project)]
    if problems:
        raise ApiError(400, "invalid_pipeline", "the pipeline is not valid; see details", problems)
    deps.store.register_pipeline(config)
    ensure_scheduled(deps, [config])  # evaluated, and its SLAs watched, from now on
    return config.to_json()


@router.get("/pipelines/{name}", summary="One pipeline", response_model=PipelineConfig, **AS_GIVEN)
def get_pipeline(request: Request, name: str) -> Json:
    return deps_of(request).pipeline(name).to_json()


@router.delete("/pipelines/{name}", status_code=204, summary="Unregister a pipeline (its history stays)")
def delete_pipeline(request: Request, name: str) -> Response:
    deps = deps_of(request)
    config = deps.pipeline(name)
    deps.store.delete_pipeline(name)
    for schedule in config.schedule_list():
        deps.store.clear_due(advance_key(name, schedule.name))
    return Response(status_code=204)


@router.post("/pipelines/{name}/evaluate",
             summary="Evaluate the pipeline's traits now", response_model=ReadinessResult, **OUT)
def evaluate_pipeline(request: Request, name: str, schedule: str | None = None) -> Json:
    return evaluate(deps_of(request), name, schedule).result.to_json()


@router.get("/pipelines/{name}/readiness",
             summary="The last readiness verdict (no evaluator runs)", response_model=ReadinessResult, **OUT)
def readiness(request: Request, name: str) -> Json:
    deps = deps_of(request)
    deps.pipeline(name)
    cached = deps.store.get_readiness(name)
    if cached is None:
        raise ApiError(404, "readiness_not_found", f"no recent readiness for {name!r}; POST .../evaluate first")
    return cached.to_json()


@router.get("/pipelines/{name}/traits",
             summary="Stored, unexpired trait results (evaluated and pushed)",
             response_model=list[TraitEvaluation], **OUT)
def list_traits(request: Request, name: str) -> list[Json]:
    store = deps_of(request).store
    return [t.to_json() for t in store.get_traits(name) + store.get_traits(name, TraitSource.PUSH)]


@router.get("/pipelines/{name}/traits/{trait_type}",
             summary="One stored trait result", response_model=TraitEvaluation, **OUT)
def get_trait(request: Request, name: str, trait_type: str) -> Json:
    store = deps_of(request).store
    found = store.get_trait(name, trait_type) or store.get_trait(name, trait_type, TraitSource.PUSH)
    if found is None:
        raise ApiError(404, "trait_not_found", f"no unexpired result for trait {trait_type!r} of {name!r}")
    return found.to_json()


@router.post("/pipelines/{name}/traits/{trait_type}", status_code=201,
             summary="Push a trait result; the pipeline is evaluated at once")
def push(request: Request, name: str, trait_type: str, body: PushRequest) -> Json:
    deps = deps_of(request)
    config = deps.pipeline(name)
    # The push starts the trace (tracing on) and the clock of interlock_push_to_trigger_seconds.
    with correlation.pushed(), correlation.bound(pipeline=name), \
            tracing.span("interlock.push", pipeline=name, trait=trait_type, status=body.status), \
            deps.store.batch():  # the push, its event and the due entries: one round trip before the message
        stored = record_push(deps, name, trait_type, body, config=config)
        request_advance(deps, name, [schedule.name for schedule in config.schedule_list()])
    return stored.to_json()


@router.post("/pipelines/{name}/run", summary="Evaluate and, if READY, trigger now (once per period)")
def run(request: Request, name: str, schedule: str | None = None) -> Json:
    # An unknown schedule is a 404 here (run_now checks before any work), where for a worker it is
    # one deleted since it was due (nothing to do).
    ran = run_now(deps_of(request), name, schedule)
    return {"pipelineId": name, "scheduleId": ran.schedule, "outcome": ran.outcome.value,
            "run": ran.run.to_json() if ran.run else None}


@router.get("/pipelines/{name}/runs", summary="Recent runs, newest first", response_model=list[RunState], **OUT)
def list_runs(request: Request, name: str, limit: int = Query(20, ge=1, le=100)) -> list[Json]:
    return [r.to_json() for r in deps_of(request).store.list_runs(name, limit)]


@router.get("/runs/{run_id}", summary="One run", response_model=RunState, **OUT)
def get_run(request: Request, run_id: str) -> Json:
    return deps_of(request).store.get_run(run_id).to_json()


@router.post("/runs/{run_id}/complete",
             summary="Completion callback of a job started by Interlock", response_model=RunState, **OUT)
def complete(request: Request, run_id: str, body: CompleteBody) -> Json:
    return complete_run(deps_of(request), run_id, body.status == "success", body.metadata, body.message).to_json()


@router.get("/pipelines/{name}/runlogs",
             summary="Run logs (one per period and schedule), newest first", response_model=list[RunLogEntry], **OUT)
def list_run_logs(request: Request, name: str, limit: int = Query(20, ge=1, le=100)) -> list[Json]:
    return [e.to_json() for e in deps_of(request).store.list_run_logs(name, limit)]


@router.get("/pipelines/{name}/runlogs/{date}", summary="The run log of one period", response_model=RunLogEntry, **OUT)
def get_run_log(request: Request, name: str, date: str, schedule: str = DEFAULT_SCHEDULE) -> Json:
    deps = deps_of(request)
    try:
        config = deps.pipeline(name)
        sched = find_schedule(config, schedule)
    except (UnknownPipeline, UnknownSchedule):
        config = None  # nothing to check the key against: a stored log of a deleted pipeline is still served
    if config is not None:
        date = period_for_key(config, sched, date).key  # BadInput (400) when the schedule has no such period
    entry = deps.store.get_run_log(name, date, schedule)
    if entry is None:
        raise ApiError(404, "runlog_not_found", f"no run log for {name} on {date} ({schedule})")
    return entry.to_json()


@router.get("/pipelines/{name}/events",
            summary="Events, oldest first: the latest `limit`, or the `limit` after cursor `after`",
            description="An answer stops adding events at about 1 MiB. When more follow, the `X-Next-After` "
                        "header holds the cursor to pass as `after` for the next page (also in a `Link` header).")
def list_events(request: Request, response: Response, name: str, limit: int = Query(50, ge=1, le=500),
                after: str | None = Query(None, pattern=EVENT_CURSOR, max_length=41,
                                          description="A `streamId`: events strictly after it")) -> list[Json]:
    store = deps_of(request).store
    if after is not None and any(int(part) >= 2**64 - 1 for part in after.split("-")):
        raise ApiError(400, "invalid_cursor", f"{after!r} is not an event cursor: its numbers are too large")
    try:
        records = store.list_events(name, limit) if after is None else store.read_events(name, after, limit)
    except ValueError:  # a cursor of the other store's kind (Redis "1-0" against DynamoDB's "0001")
        raise ApiError(400, "invalid_cursor", f"{after!r} is not an event cursor of this store") from None
    page: list[Json] = []
    size = 0
    for record in records:
        item = {"streamId": record.stream_id, **record.event.to_json()}
        size += len(to_json(item)) + 1
        if page and size > EVENTS_PAGE_BYTES:
            break
        page.append(item)
    if page and (len(page) < len(records) or (after is not None and len(records) == limit)):
        cursor = page[-1]["streamId"]
        response.headers["X-Next-After"] = cursor
        response.headers["Link"] = f'<{request.url.path}?{urlencode({"after": cursor, "limit": limit})}>; rel="next"'
    return page


@router.get("/pipelines/{name}/explain",
            summary="Why the pipeline did (or did not) run in a period: a one-line answer and the timeline",
            description="`period`: a date (daily schedule) or a local start `YYYY-MM-DDTHHMM` (cron); default the "
                        "current period. Unknown pipeline, schedule or period: 404 with a stable code.")
def explain_period(request: Request, name: str, period: str | None = Query(None, max_length=64),
                   schedule: str | None = Query(None, max_length=256)) -> Json:
    from interlock.explain import explain

    return explain(deps_of(request), name, period, schedule).to_json()


@router.post("/pipelines/{name}/rerun", status_code=202,
             summary="Request a rerun of a period", response_model=RerunRecord, **OUT)
def rerun(request: Request, name: str, body: RerunBody) -> Json:
    return request_rerun(deps_of(request), name, body.reason, date=body.date, schedule=body.schedule,
                         description=body.description, force=body.force).to_json()


@router.get("/pipelines/{name}/reruns",
             summary="Reruns of a pipeline, newest first", response_model=list[RerunRecord], **OUT)
def list_reruns(request: Request, name: str, limit: int = Query(20, ge=1, le=200)) -> list[Json]:
    return [r.to_json() for r in deps_of(request).store.list_reruns(name, limit)]


@router.get("/reruns", summary="All reruns, newest first", response_model=list[RerunRecord], **OUT)
def list_all_reruns(request: Request, limit: int = Query(50, ge=1, le=500)) -> list[Json]:
    return [r.to_json() for r in deps_of(request).store.list_all_reruns(limit)]


@router.post("/reruns/{rerun_id}/complete",
             summary="Completion callback of a rerun's job", response_model=RerunRecord, **OUT)
def complete_rerun(request: Request, rerun_id: str, body: CompleteBody) -> Json:
    deps = deps_of(request)
    record = deps.store.get_rerun(rerun_id)
    if record is None:
        raise UnknownRerun(rerun_id)
    if not record.rerun_run_id or record.status not in STARTED_RUN_STATUSES:
        raise ApiError(409, "invalid_transition", f"rerun {rerun_id} is {record.status.value}: nothing to complete")
    complete_run(deps, record.rerun_run_id, body.status == "success", body.metadata, body.message)
    return (deps.store.get_rerun(rerun_id) or record).to_json()
