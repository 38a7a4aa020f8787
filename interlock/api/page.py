"""The status page at ``/``: what an on-call engineer opens first. Server-rendered, refreshes itself.

Per pipeline and schedule: this period's run (state, attempt), readiness and what blocks it (with
the reason), the next check, and the last events; each pipeline links to its own page
(:mod:`interlock.api.pipeline_page`). No front-end build, no JavaScript.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, PlainTextResponse

from interlock import gauges, metrics
from interlock.api.graph import render_graph
from interlock.deadletters import broker_prefix
from interlock.errors import UnknownPipeline
from interlock.model import PipelineConfig
from interlock.periods import period_at
from interlock.statusview import Attention, attention, page, parse_limit, parse_states
from interlock.steps.deps import Deps
from interlock.steps.keys import advance_key
from interlock.steps.registry import BROKER_PRIORITY_STEPS, queues
from interlock.store.status import STATES

router = APIRouter()

# Seconds between the page's own refreshes.
REFRESH = 5
# Pipelines in the table per page (?limit= up to statusview.MAX_LIMIT).
PAGE_LIMIT = 50
_STATE_WORD_CLASS = {"failed": "bad", "running": "busy", "blocked": "bad", "completed": "ok", "waiting": "",
                     "stuck": "bad", "late": "bad"}
_STATE_CLASS = {"COMPLETED": "ok", "COMPLETED_MONITORING": "ok", "FAILED": "bad", "RUNNING": "busy",
                "TRIGGERING": "busy", "READY": "ok", "NOT_READY": "bad"}

STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5rem;color:#1d2433;background:#f7f8fa}
h1{font-size:1.3rem;margin:0 0 .2rem}.sub{color:#667;margin-bottom:1rem}
table{border-collapse:collapse;width:100%;background:#fff;box-shadow:0 1px 2px #0002}
th,td{padding:.45rem .6rem;border-bottom:1px solid #e4e7ec;text-align:left;vertical-align:top;font-size:.9rem}
th{background:#eef1f5;font-weight:600}.ok{color:#137333;font-weight:600}.bad{color:#b3261e;font-weight:600}
.busy{color:#0b57d0;font-weight:600}.why{color:#b3261e}.ev{color:#556;font-size:.8rem}code{font-size:.85rem}
.counts{margin:.4rem 0 1rem}.counts a{text-decoration:none;color:inherit;padding:.15rem .4rem}
.counts a.on{background:#e4e7ec;border-radius:4px}.search{margin:.3rem 0}.more{margin:.6rem 0}
.graph-title{font-size:1.05rem;margin:1rem 0 .4rem}
"""


def _cls(state: str | None) -> str:
    return _STATE_CLASS.get(state or "", "")


def _row(deps: Deps, pipeline: PipelineConfig, now: datetime) -> list[str]:
    """The table rows of one pipeline: one per schedule, this period's run, readiness and next check."""
    rows = []
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
            category = f"{entry.failure_category.value}: " if entry.failure_category else ""
            run += f'<br><span class="why">{escape(category + entry.failure_message[:200])}</span>'
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
    return rows


def _link(**params: str | int | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return escape(f"/?{query}" if query else "/")


def _counts(counts: dict[str, int], states: list[str], q: str) -> str:
    total = sum(counts.values())
    parts = [f'<a href="{_link(q=q)}"{" class=on" if not states else ""}>all <b>{total}</b></a>']
    for state in STATES:
        on = " class=on" if states == [state] else ""
        parts.append(f'<a href="{_link(state=state, q=q)}"{on}><span class="{_STATE_WORD_CLASS[state]}">'
                     f"{state}</span> <b>{counts.get(state, 0)}</b></a>")
    return f'<nav class=counts>{" · ".join(parts)}</nav>'


def _attention(items: list[Attention]) -> str:
    if not items:
        return "<h2 class=graph-title>Needs attention</h2><p class=ev>Nothing failed, stuck or late.</p>"
    rows = "".join(
        f'<tr data-attention="{escape(a.kind)}"><td><a href="/pipelines/{quote(a.status.name, safe="")}">'
        f"<b>{escape(a.status.name)}</b></a></td>"
        f'<td><span class="{_STATE_WORD_CLASS.get(a.status.state, "")}">{escape(a.kind)}</span></td>'
        f'<td class="why">{escape(a.why)}</td>'
        f'<td>{escape(a.status.since.strftime("%Y-%m-%d %H:%M:%S")) if a.status.since else "—"}</td></tr>'
        for a in items)
    return ("<h2 class=graph-title>Needs attention</h2><table class=attention><thead><tr><th>pipeline</th>"
            f"<th>why</th><th></th><th>in this state since (UTC)</th></tr></thead><tbody>{rows}</tbody></table>")


def render(deps: Deps, states: list[str] | None = None, q: str = "", cursor: str | None = None,
           limit: int = PAGE_LIMIT) -> str:
    """The page: counts per state, what needs attention, then one page of pipelines by name.

    Every part reads the state index (:mod:`interlock.statusview`), never every pipeline: the counts
    come from the index, the attention list from its longest-in-state order, and the table holds
    ``limit`` pipelines with a link to the next page. The dependency picture is drawn only for
    ``graph.MAX_NODES`` pipelines or fewer.
    """
    states = states or []
    now = deps.clock.now()
    counts = deps.store.state_counts()
    found = page(deps, states, cursor, limit, q)
    rows: list[str] = []
    for status in found.items:
        try:
            rows += _row(deps, deps.store.get_pipeline(status.name), now)
        except UnknownPipeline:  # deleted since the page was read
            continue
    first = cursor is None and not states and not q
    filtered = f" ({', '.join(states) or 'all'}{f', name contains {q!r}' if q else ''})" if states or q else ""
    body = "".join(rows) or f'<tr><td colspan="7">No pipelines{escape(filtered) or " registered"}.</td></tr>'
    after = _link(state=",".join(states), q=q, limit=limit if limit != PAGE_LIMIT else None, cursor=found.next_cursor)
    more = f'<p class=more><a rel="next" href="{after}">next page →</a></p>' if found.next_cursor else ""
    search = (f'<form class=search method=get action="/"><input name=q value="{escape(q)}" placeholder="name contains">'
              f'<input type=hidden name=state value="{escape(",".join(states))}"><button>filter</button></form>')
    graph = render_graph(deps, now, total=sum(counts.values())) if first else ""
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Interlock status</title>'
            f'<meta http-equiv="refresh" content="{REFRESH}"><style>{STYLE}</style></head><body>'
            f"<h1>Interlock — pipelines</h1><div class=sub>{escape(now.strftime('%Y-%m-%d %H:%M:%S UTC'))}"
            f" · refreshes every {REFRESH}s · <a href=/docs>API</a></div>{_counts(counts, states, q)}"
            f"{_attention(attention(deps)) if first else ''}{graph}"
            f"<h2 class=graph-title>Pipelines{escape(filtered)}</h2>{search}"
            "<table><thead><tr><th>pipeline</th><th>schedule · period</th><th>readiness</th>"
            "<th>blocked by</th><th>run this period</th><th>next check (UTC)</th><th>last events</th></tr></thead>"
            f"<tbody>{body}</tbody></table>{more}</body></html>")


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def status_page(request: Request, state: str | None = Query(None, max_length=200),
                q: str | None = Query(None, max_length=200), cursor: str | None = Query(None, max_length=2048),
                limit: str | None = Query(None, max_length=20)) -> HTMLResponse:
    deps: Deps = request.app.state.deps
    return HTMLResponse(render(deps, parse_states(state), q or "", cursor, parse_limit(limit, PAGE_LIMIT)))


@router.get("/metrics", include_in_schema=False)
def prometheus(request: Request) -> PlainTextResponse:
    """The counters every process adds to, and the gauges read now (:mod:`interlock.gauges`)."""
    deps: Deps = request.app.state.deps
    from interlock.steps.archive import archive_gauges

    now = deps.clock.now()
    read = gauges.read(deps.store, now, queues(), broker_prefix(deps.project.settings.key_prefix),
                       BROKER_PRIORITY_STEPS)
    return PlainTextResponse(metrics.render(deps.store.counts(), {**read, **archive_gauges(deps)}, gauges.HELP),
                             media_type="text/plain; version=0.0.4")
