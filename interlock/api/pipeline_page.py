"""The page of one pipeline, ``/pipelines/{name}``: the explain timeline drawn, server-side, as SVG.

Periods run along the time axis (the selected one and the ones before it), one lane per trait with
a mark per evaluation (green PASS, red FAIL, amber ERROR), a lane for readiness verdicts, a lane for
run attempts as bars (claimed to finished, coloured by how they ended) and a lane for everything
else (SLA alerts, retries, missed schedules, shadow records: any event kind). Under it, the selected
period's one-line answer and its timeline as a table. Everything comes from
:func:`interlock.explain.explain`, the same answer ``interlock explain`` prints. No JavaScript.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from interlock.api.page import STYLE
from interlock.explain import Entry, Explanation, explain, resolve
from interlock.periods import previous_period
from interlock.schedule import find_schedule
from interlock.steps.deps import Deps

router = APIRouter()

# Periods drawn at most, and by default (the selected one and those before it).
MAX_PERIODS = 14
DEFAULT_PERIODS = 3

COLOURS = {"PASS": "#1e8e3e", "FAIL": "#d93025", "ERROR": "#f29900", "READY": "#1e8e3e", "NOT_READY": "#d93025",
           "COMPLETED": "#1e8e3e", "COMPLETED_MONITORING": "#1e8e3e", "FAILED": "#d93025", "CANCELLED": "#80868b",
           "RUNNING": "#0b57d0", "TRIGGERING": "#0b57d0", "PENDING": "#0b57d0", "error": "#d93025",
           "warning": "#f29900", "info": "#5f6368"}
_OTHER = "#5f6368"
_OUTCOME = {"triggered": "ok", "failed": "bad", "not_triggered": "bad", "missed": "bad", "running": "busy"}

PAGE_STYLE = """
.badge{display:inline-block;padding:.1rem .5rem;border-radius:.8rem;font-size:.75rem;font-weight:700;
background:#6a1b9a;color:#fff;vertical-align:middle;margin-left:.4rem}
.answer{font-size:1.05rem;margin:.8rem 0;padding:.6rem .8rem;background:#fff;border-left:4px solid #0b57d0}
svg{background:#fff;box-shadow:0 1px 2px #0002;margin:.4rem 0 1rem}.legend span{margin-right:1rem;font-size:.8rem}
td.when{white-space:nowrap}.dot{display:inline-block;width:.7rem;height:.7rem;border-radius:50%;vertical-align:middle;margin-right:.25rem}
"""

# Geometry of the SVG (px).
_LEFT, _WIDTH, _LANE, _TOP = 150, 1100, 24, 34


def _colour(status: str | None) -> str:
    return COLOURS.get(status or "", _OTHER)


def _periods(deps: Deps, name: str, period: str | None, schedule: str | None, count: int) -> list[Explanation]:
    """The selected period's explanation and those of the ``count - 1`` periods before it, oldest first."""
    config, selected = resolve(deps, name, period, schedule)
    sched = find_schedule(config, schedule)
    keys = [selected]
    while len(keys) < count:
        keys.append(previous_period(config, sched, keys[-1]))
    return [explain(deps, name, p.key, sched.name) for p in reversed(keys)]


def _lanes(found: list[Explanation]) -> list[str]:
    traits = sorted({e.trait for x in found for e in x.entries if e.kind == "TRAIT_EVALUATED" and e.trait})
    return [*traits, "readiness", "runs", "other"]


def _lane_of(entry: Entry) -> str | None:
    if entry.kind == "TRAIT_EVALUATED":
        return entry.trait
    if entry.kind == "READINESS_CHECKED":
        return "readiness"
    if entry.kind in ("RUN", "WINDOW_OPENED", "TRAIT_PUSHED"):
        return None  # runs are drawn as bars; a window's opening is its band's edge
    return "other"


def svg(found: list[Explanation], now: datetime, link: str) -> str:
    """The timeline of ``found`` (oldest period first) as an SVG element."""
    start, end = found[0].period.opens, found[-1].period.closes
    span = max((end - start).total_seconds(), 1.0)
    lanes = _lanes(found)
    height = _TOP + _LANE * len(lanes) + 10

    def x(at: datetime) -> float:
        seconds = min(max((at - start).total_seconds(), 0.0), span)
        return round(_LEFT + _WIDTH * seconds / span, 1)

    def y(lane: str) -> int:
        return _TOP + _LANE * lanes.index(lane) + _LANE // 2

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="100%" viewBox="0 0 {_LEFT + _WIDTH + 20} {height}" '
             f'role="img" aria-label="timeline of {len(found)} periods" font-family="system-ui,sans-serif" '
             'font-size="12">']
    for i, ex in enumerate(found):  # the period bands, each a link to its own explanation
        x0, x1 = x(ex.period.opens), x(ex.period.closes)
        fill = "#f1f3f4" if i % 2 == 0 else "#ffffff"
        parts.append(f'<a href="{escape(link + urlencode({"period": ex.period.key}))}">'
                     f'<rect x="{x0}" y="{_TOP - 6}" width="{round(x1 - x0, 1)}" height="{height - _TOP}" '
                     f'fill="{fill}" class="period" data-period="{escape(ex.period.key)}"><title>'
                     f'{escape(ex.period.key)}: {escape(ex.summary)}</title></rect>'
                     f'<text x="{x0 + 4}" y="16" fill="#1d2433">{escape(ex.period.key)}</text>'
                     f'<text x="{x0 + 4}" y="28" fill="{_colour(_status_of(ex))}" font-size="10">'
                     f'{escape(ex.outcome.replace("_", " "))}</text></a>')
        parts.append(f'<line x1="{x0}" x2="{x0}" y1="{_TOP - 6}" y2="{height}" stroke="#c4c7cc"/>')
    for lane in lanes:
        parts.append(f'<text x="8" y="{y(lane) + 4}" fill="#3c4043">{escape(lane[:20])}</text>'
                     f'<line x1="{_LEFT}" x2="{_LEFT + _WIDTH}" y1="{y(lane)}" y2="{y(lane)}" stroke="#e4e7ec"/>')
    for ex in found:
        parts.extend(_run_bars(ex, now, x, y("runs")))
        for entry in ex.entries:
            where = _lane_of(entry)
            if where is None or where not in lanes:
                continue
            title = f"<title>{escape(entry.at.strftime('%Y-%m-%d %H:%M:%S'))} {escape(entry.kind)} " \
                    f"{escape(entry.text)}</title>"
            cx, cy, colour = x(entry.at), y(where), _colour(entry.status)
            if entry.kind == "TRAIT_EVALUATED":
                parts.append(f'<circle cx="{cx}" cy="{cy}" r="5" fill="{colour}" class="mark '
                             f'{escape(entry.status or "")}">{title}</circle>')
            elif entry.kind == "READINESS_CHECKED":
                parts.append(f'<rect x="{cx - 2}" y="{cy - 7}" width="4" height="14" fill="{colour}" '
                             f'class="verdict">{title}</rect>')
            else:
                parts.append(f'<path d="M{cx} {cy - 7} L{cx + 6} {cy} L{cx} {cy + 7} L{cx - 6} {cy} Z" '
                             f'fill="{colour}" class="event">{title}</path>')
    if start <= now < end:
        parts.append(f'<line x1="{x(now)}" x2="{x(now)}" y1="{_TOP - 6}" y2="{height}" stroke="#0b57d0" '
                     'stroke-dasharray="4 3"><title>now</title></line>')
    parts.append("</svg>")
    return "".join(parts)


def _status_of(ex: Explanation) -> str:
    return {"triggered": "COMPLETED", "failed": "FAILED", "running": "RUNNING"}.get(
        ex.outcome, "FAIL" if ex.outcome in ("not_triggered", "missed") else "")


def _run_bars(ex: Explanation, now: datetime, x: Callable[[datetime], float], lane_y: int) -> list[str]:
    """One bar per attempt: from its claim to its last recorded state (or now, while it runs)."""
    bars = []
    runs: dict[str, list[Entry]] = {}
    for entry in ex.entries:
        if entry.kind == "RUN" and entry.run_id:
            runs.setdefault(entry.run_id, []).append(entry)
    for run_id, moves in runs.items():
        first, last = moves[0], moves[-1]
        finish = last.at if len(moves) > 1 else now
        status = last.status if len(moves) > 1 else "RUNNING"
        x0, x1 = x(first.at), x(finish)
        bars.append(f'<rect x="{x0}" y="{lane_y - 6}" width="{max(round(x1 - x0, 1), 4)}" height="12" rx="3" '
                    f'fill="{_colour(status)}" class="run {escape(status or "")}"><title>{escape(run_id)}: '
                    f'{escape(" → ".join(m.text for m in moves))}</title></rect>')
    return bars


def render(deps: Deps, name: str, period: str | None, schedule: str | None, count: int) -> str:
    found = _periods(deps, name, period, schedule, count)
    selected = found[-1]
    config = deps.pipeline(name)
    now = deps.clock.now()
    link = f"/pipelines/{quote(name, safe='')}?" + (urlencode({"schedule": schedule}) + "&" if schedule else "")
    badge = '<span class="badge" title="dryRun: true">SHADOW</span>' if selected.dry_run else ""
    rows = "".join(
        f'<tr><td class=when>{escape(e.at.astimezone(selected.period.zone).strftime("%Y-%m-%d %H:%M:%S"))}</td>'
        f'<td><span style="color:{_colour(e.status)}">{escape(e.kind)}</span></td><td>{escape(e.text)}</td></tr>'
        for e in selected.entries) or '<tr><td colspan="3">No records for this period.</td></tr>'
    schedules = " · ".join(f'<a href="/pipelines/{quote(name, safe="")}?{urlencode({"schedule": s.name})}">'
                           f"{escape(s.name)}</a>" for s in config.schedule_list())
    legend = "".join(f'<span><i class="dot" style="background:{COLOURS[k]}"></i>{k}</span>'
                     for k in ("PASS", "FAIL", "ERROR", "RUNNING")) + \
        f'<span><i class="dot" style="background:{_OTHER}"></i>other events</span>'
    return (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(name)} · Interlock</title>'
            f"<style>{STYLE}{PAGE_STYLE}</style></head><body>"
            f"<h1>{escape(name)}{badge}</h1><div class=sub><a href=/>all pipelines</a> · archetype "
            f"{escape(config.archetype)} · schedules: {schedules} · "
            f"{escape(now.strftime('%Y-%m-%d %H:%M:%S UTC'))}</div>"
            f'<div class="answer {_OUTCOME.get(selected.outcome, "")}" id="answer">{escape(selected.summary)}</div>'
            f"{svg(found, now, link)}<div class=legend>{legend}</div>"
            f"<h2 style='font-size:1rem'>Period {escape(selected.period.key)} (schedule {escape(selected.schedule)},"
            f" records: {escape(selected.source)})</h2>"
            f"<table><thead><tr><th>when ({escape(str(selected.period.zone))})</th><th>what</th><th>detail</th></tr>"
            f"</thead><tbody>{rows}</tbody></table></body></html>")


@router.get("/pipelines/{name}", response_class=HTMLResponse, include_in_schema=False)
def pipeline_page(request: Request, name: str, period: str | None = Query(None, max_length=64),
                  schedule: str | None = Query(None, max_length=256),
                  periods: int = Query(DEFAULT_PERIODS, ge=1, le=MAX_PERIODS)) -> HTMLResponse:
    deps: Deps = request.app.state.deps
    return HTMLResponse(render(deps, name, period, schedule, periods))
