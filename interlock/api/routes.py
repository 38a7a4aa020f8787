"""The HTTP routes, each a thin adapter over the same steps the CLI and workers run."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, ValidationError

from interlock import __version__
from interlock.api.errors import ApiError
from interlock.api.strict import StrictJsonRoute
from interlock.config.errors import format_path
from interlock.config.evaluator_refs import EvaluatorKind, classify, in_evaluator_dirs
from interlock.config.loader import check_pipeline
from interlock.lifecycle import InvalidTransition
from interlock.model import (
    DEFAULT_SCHEDULE,
    PipelineConfig,
    ReadinessResult,
    RerunRecord,
    RunLogEntry,
    RunState,
    RunStatus,
    TraitEvaluation,
    TraitStatus,
    TriggerType,
)
from interlock.redaction import referenced_names
from interlock.schedule import UnknownSchedule
from interlock.steps.advance import advance
from interlock.steps.deps import Deps, UnknownArchetype, UnknownPipeline
from interlock.steps.dispatch import InlineDispatcher
from interlock.steps.evaluate import evaluate
from interlock.steps.keys import advance_key
from interlock.steps.push import BadPush, push_trait
from interlock.steps.reconcile import ensure_scheduled
from interlock.steps.reruns import request_rerun
from interlock.steps.runs import complete_run, trigger
from interlock.store.base import NotFoundError, TraitSource

router = APIRouter(prefix="/api", route_class=StrictJsonRoute)

# Responses are the records' JSON: empty fields left out; pipelines exactly as they were given.
OUT: dict[str, Any] = {"response_model_exclude_none": True}
AS_GIVEN: dict[str, Any] = {"response_model_exclude_none": True, "response_model_exclude_unset": True}

Json = dict[str, Any]


def deps_of(request: Request) -> Deps:
    deps: Deps = request.app.state.deps
    return deps


def pipeline_or_404(deps: Deps, name: str) -> PipelineConfig:
    try:
        return deps.pipeline(name)
    except UnknownPipeline:
        raise ApiError(404, "pipeline_not_found", f"pipeline {name!r} is not registered") from None


class PushBody(BaseModel):
    status: Literal["PASS", "FAIL"]
    value: dict[str, Any] | None = None
    reason: str | None = Field(default=None, max_length=10_000)
    ttl: int | None = Field(default=None, ge=0, le=366 * 86_400)


class CompleteBody(BaseModel):
    status: Literal["success", "failed"]
    metadata: dict[str, Any] | None = None
    message: str | None = Field(default=None, max_length=10_000)


class RerunBody(BaseModel):
    reason: str = Field(min_length=1, max_length=1000)
    date: str | None = Field(default=None, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
    schedule: str | None = None
    description: str | None = None


@router.get("/health", summary="Liveness and store connectivity (no API key needed)")
def health(request: Request) -> Json:
    try:
        deps_of(request).store.ping()
        return {"status": "ok", "version": __version__}
    except Exception:
        return {"status": "degraded", "version": __version__}


@router.get("/pipelines", summary="Registered pipelines", response_model=list[PipelineConfig], **AS_GIVEN)
def list_pipelines(request: Request) -> list[Json]:
    return [p.to_json() for p in deps_of(request).store.list_pipelines()]


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
    # ${INTERLOCK_*} values are the operator's secrets: a pipeline sent over the API must not be able to
    # send them to a URL of its choosing.
    names = sorted(set(referenced_names([body.get("trigger")])))
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
    return pipeline_or_404(deps_of(request), name).to_json()


@router.delete("/pipelines/{name}", status_code=204, summary="Unregister a pipeline (its history stays)")
def delete_pipeline(request: Request, name: str) -> Response:
    deps = deps_of(request)
    config = pipeline_or_404(deps, name)
    deps.store.delete_pipeline(name)
    for schedule in config.schedule_list():
        deps.store.clear_due(advance_key(name, schedule.name))
    return Response(status_code=204)


@router.post("/pipelines/{name}/evaluate",
             summary="Evaluate the pipeline's traits now", response_model=ReadinessResult, **OUT)
def evaluate_pipeline(request: Request, name: str, schedule: str | None = None) -> Json:
    deps = deps_of(request)
    pipeline_or_404(deps, name)
    try:
        return evaluate(deps, name, schedule).result.to_json()
    except UnknownArchetype as exc:
        raise ApiError(409, "archetype_not_loaded", str(exc)) from None
    except UnknownSchedule as exc:
        raise ApiError(400, "schedule_not_found", str(exc)) from None


@router.get("/pipelines/{name}/readiness",
             summary="The last readiness verdict (no evaluator runs)", response_model=ReadinessResult, **OUT)
def readiness(request: Request, name: str) -> Json:
    deps = deps_of(request)
    pipeline_or_404(deps, name)
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
def push(request: Request, name: str, trait_type: str, body: PushBody) -> Json:
    deps = deps_of(request)
    config = pipeline_or_404(deps, name)
    try:
        stored = push_trait(deps, name, trait_type, TraitStatus(body.status), value=body.value, reason=body.reason,
                            ttl=body.ttl)
    except BadPush as exc:
        raise ApiError(400, "invalid_push", str(exc)) from None
    for schedule in config.schedule_list():  # the fast path: evaluate now, durably due now as well
        deps.store.set_due(advance_key(name, schedule.name), deps.clock.now())
        deps.dispatch.send("advance", pipeline=name, schedule=schedule.name)
    return stored.to_json()


@router.post("/pipelines/{name}/run", summary="Evaluate and, if READY, trigger now (once per period)")
def run(request: Request, name: str, schedule: str | None = None) -> Json:
    deps = deps_of(request)
    config = pipeline_or_404(deps, name)
    sched = schedule or config.schedule_list()[0].name
    inline = InlineDispatcher()
    inline.handlers["trigger"] = lambda **kw: trigger(deps, **kw)
    step_deps = Deps(deps.project, deps.store, deps.clock, deps.runner, deps.alerts, inline)
    try:
        outcome = advance(step_deps, name, sched)
    except UnknownSchedule as exc:
        raise ApiError(400, "schedule_not_found", str(exc)) from None
    runs = deps.store.list_runs(name, 1)
    return {"pipelineId": name, "scheduleId": sched, "outcome": outcome.value,
            "run": runs[0].to_json() if runs else None}


@router.get("/pipelines/{name}/runs", summary="Recent runs, newest first", response_model=list[RunState], **OUT)
def list_runs(request: Request, name: str, limit: int = Query(20, ge=1, le=100)) -> list[Json]:
    return [r.to_json() for r in deps_of(request).store.list_runs(name, limit)]


@router.get("/runs/{run_id}", summary="One run", response_model=RunState, **OUT)
def get_run(request: Request, run_id: str) -> Json:
    try:
        return deps_of(request).store.get_run(run_id).to_json()
    except NotFoundError:
        raise ApiError(404, "run_not_found", f"no run {run_id!r}") from None


@router.post("/runs/{run_id}/complete",
             summary="Completion callback of a job started by Interlock", response_model=RunState, **OUT)
def complete(request: Request, run_id: str, body: CompleteBody) -> Json:
    deps = deps_of(request)
    try:
        return complete_run(deps, run_id, body.status == "success", body.metadata, body.message).to_json()
    except NotFoundError:
        raise ApiError(404, "run_not_found", f"no run {run_id!r}") from None
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", f"run {run_id} cannot be completed: {exc}") from None


@router.get("/pipelines/{name}/runlogs",
             summary="Run logs (one per period and schedule), newest first", response_model=list[RunLogEntry], **OUT)
def list_run_logs(request: Request, name: str, limit: int = Query(20, ge=1, le=100)) -> list[Json]:
    return [e.to_json() for e in deps_of(request).store.list_run_logs(name, limit)]


@router.get("/pipelines/{name}/runlogs/{date}", summary="The run log of one period", response_model=RunLogEntry, **OUT)
def get_run_log(request: Request, name: str, date: str, schedule: str = DEFAULT_SCHEDULE) -> Json:
    entry = deps_of(request).store.get_run_log(name, date, schedule)
    if entry is None:
        raise ApiError(404, "runlog_not_found", f"no run log for {name} on {date} ({schedule})")
    return entry.to_json()


@router.get("/pipelines/{name}/events", summary="The latest events, oldest first")
def list_events(request: Request, name: str, limit: int = Query(50, ge=1, le=500)) -> list[Json]:
    return [{"streamId": r.stream_id, **r.event.to_json()} for r in deps_of(request).store.list_events(name, limit)]


@router.post("/pipelines/{name}/rerun", status_code=202,
             summary="Request a rerun of a period", response_model=RerunRecord, **OUT)
def rerun(request: Request, name: str, body: RerunBody) -> Json:
    deps = deps_of(request)
    pipeline_or_404(deps, name)
    try:
        return request_rerun(deps, name, body.reason, date=body.date, schedule=body.schedule,
                             description=body.description).to_json()
    except UnknownSchedule as exc:
        raise ApiError(400, "schedule_not_found", str(exc)) from None


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
        raise ApiError(404, "rerun_not_found", f"no rerun {rerun_id!r}")
    if not record.rerun_run_id or record.status not in (RunStatus.TRIGGERING, RunStatus.RUNNING):
        raise ApiError(409, "invalid_transition", f"rerun {rerun_id} is {record.status.value}: nothing to complete")
    try:
        complete_run(deps, record.rerun_run_id, body.status == "success", body.metadata, body.message)
    except InvalidTransition as exc:
        raise ApiError(409, "invalid_transition", str(exc)) from None
    return (deps.store.get_rerun(rerun_id) or record).to_json()
