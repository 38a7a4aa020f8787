"""The status page at ``/``: what an on-call engineer opens first. Server-rendered, refreshes itself.

Per pipeline and schedule: this period's run (state, attempt), readiness and what blocks it (with
the reason), the next check, and the last events; each pipeline links to its own page
(:mod:`interlock.api.pipeline_page`). No front-end build, no JavaScript.
"""

from __future__ import annotations

from html import escape
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from interlock import metrics
from interlock.api.graph import render_graph
from interlock.periods import period_at
from interlock.steps.deps import Deps
from interlock.steps.keys import advance_key

router = APIRouter()

# Seconds between the page's own refreshes.
REFRESH = 5
_STATE_CLASS = {"COMPLETED": "ok", "COMPLETED_MONITORING": "ok", "FAILED": "bad", "RUNNING": "busy",
                "TRIGGERING": "busy", "READY": "ok", "NOT_READY": "bad"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2433;background:#f7f8fa}
h1{font-size:1.3rem;margin:0 0 .2rem}.sub{color:#667;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.45rem .6rem;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef1f5;font-weight:600}.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}
.busy{color:#0b57d0;font-weight:600}.why{color:#b3261e}.ev{color:#556;font-size:.8rem}code{font-size:.85rem}
"""


def _cls(state: str | None) -> str:
    return _STATE_CLASS.get(state or "", "")


def render(deps: Deps) -> str:
    now = deps.clock.now()
    rows = []
    for pipeline in sorted(deps.store.list_pipelines(), key=lambda p: p.name):
        readiness = deps.store.get_readiness(pipeline.name)
        events = deps.store.list_events(pipeline.name, 3)
        for schedule in pipeline.schedule_list():
            period = period_at(pipeline, schedule, now).key
            entry = deps.store.get_run_log(pipeline.name, period, schedule.name)
            due = deps.store.due_at(advance_key(pipeline.name, schedule.name))
            why = ""
            if readiness and readiness.blocking:
                reasons = {t.trait_type: t.reason or t.status.value for t in readiness.traits}
                why = "<br>".join(f"<b>{escape(b)}</b>: {escape(reasons.get(b, ''))}" for b in readiness.blocking)
            run = (f'<span class="{_cls(entry.status.value)}">{escape(entry.status.value)}</span> '
                   f"(attempt {entry.attempt_number})<br><code>{escape(entry.run_id)}</code>") if entry else "—"
            if entry and entry.failure_message:
                run += f'<br><span class="why">{escape(entry.failure_message[:200])}</span>'
            state = readiness.status.value if readiness else "not evaluated yet"
            recent = "<br>".join(
                f'{escape(r.event.timestamp.strftime("%H:%M:%S"))} {escape(r.event.kind.value)}'
                f' {escape(r.event.status or "")}' for r in reversed(events))
            rows.append(
                f'<tr><td><a href="/pipelines/{quote(pipeline.name, safe="")}"><b>{escape(pipeline.name)}</b></a>'
                f"<br><span class=ev>{escape(pipeline.archetype)}</span></td>"
                f"<td>{escape(schedule.name)}<br><span class=ev>{escape(period)}</span></td>"
                f'<td><span class="{_cls(state)}">{escape(state)}</span></td>'
                f'<td class="why">{why}</td><td>{run}</td>'
                f'<td>{escape(due.strftime("%Y-%m-%d %H:%M:%S")) if due else "—"}</td>'
                f'<td class="ev">{recent}</td></tr>')
    body = "".join(rows) or '<tr><td colspan="7">No pipelines registered.</td></tr>'
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interlock status</title>'
            f'<meta http-equiv="refresh" content="{REFRESH}"><style>{STYLE}</style></head><body>'
            f"<h1>Interlock — pipelines</h1><div class=sub>{escape(now.strftime('%Y-%m-%d %H:%M:%S UTC'))}"
            f" · refreshes every {REFRESH}s · <a href=/docs>API</a></div>{render_graph(deps, now)}"
            "<table><thead><tr><th>pipeline</th><th>schedule · period</th><th>readiness</th>"
            "<th>blocked by</th><th>run this period</th><th>next check (UTC)</th><th>last events</th></tr></thead>"
            f"<tbody>{body}</tbody></table></body></html>")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request) -> HTMLResponse:
    deps: Deps = request.app.state.deps
    return HTMLResponse(render(deps))


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request) -> PlainTextResponse:
    deps: Deps = request.app.state.deps
    from interlock.steps.archive import archive_gauges

    return PlainTextResponse(metrics.render(deps.store.counts(), archive_gauges(deps)),
                             media_type="text/plain; version=0.0.4")
