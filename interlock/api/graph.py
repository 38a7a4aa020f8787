"""The dependency picture on the status page: pipelines as boxes, upstream → downstream as arrows.

An edge is what cascade follows: the store's dependents index (a downstream names the upstream as
``upstreamPipeline`` in a trait's config). It is drawn solid when that trait is a
``builtin:upstream-job-log`` gate (the downstream waits for the upstream's run), dashed when the
name only drives the cascade. Each box is coloured by this period's state of the pipeline (the
worst of its schedules: failed, running, blocked, completed, waiting) and says it in words too.

Server-side SVG with a layered layout (a pipeline one column right of its deepest upstream): no
JavaScript, no build step. Past ``MAX_NODES`` pipelines the picture is left out with a note
(decided from the state index's count, before any pipeline is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

from interlock.model import PipelineConfig, RunStatus
from interlock.periods import period_at
from interlock.steps.deps import Deps

MAX_NODES = 200
NODE_W, NODE_H, COL_GAP, ROW_GAP, PAD = 190, 48, 70, 18, 12
UPSTREAM_GATE = "builtin:upstream-job-log"

# state -> (fill, stroke, words); the order is "worst first" when schedules disagree.
STATES: dict[str, tuple[str, str, str]] = {
    "failed": ("#fce8e6", "#b3261e", "failed"),
    "running": ("#e8f0fe", "#0b57d0", "running"),
    "blocked": ("#fef7e0", "#b06000", "blocked"),
    "completed": ("#e6f4ea", "#137333", "completed"),
    "waiting": ("#f1f3f4", "#80868b", "no run yet"),
}
STYLE = (".graph-title{font-size:1.05rem;margin:1rem 0 .4rem}"
         ".graph-box{background:#fff;box-shadow:0 1px 2px #0002;overflow-x:auto;margin-bottom:.3rem}"
         ".graph text{font-family:system-ui,sans-serif}")
_RUN_STATE = {RunStatus.FAILED: "failed", RunStatus.RUNNING: "running", RunStatus.TRIGGERING: "running",
              RunStatus.COMPLETED: "completed", RunStatus.COMPLETED_MONITORING: "completed"}


@dataclass(frozen=True)
class Edge:
    upstream: str
    downstream: str
    gate: bool  # the downstream has a builtin:upstream-job-log trait on the upstream


def edges(deps: Deps, pipelines: list[PipelineConfig]) -> list[Edge]:
    """Every cascade edge between registered pipelines, as the store's dependents index has them."""
    by_name = {p.name: p for p in pipelines}
    found: list[Edge] = []
    for upstream in sorted(by_name):
        for name in deps.store.list_dependents(upstream):
            downstream = by_name.get(name)
            if downstream is None:
                continue
            gate = any(trait is not None and trait.evaluator == UPSTREAM_GATE
                       and (trait.config or {}).get("upstreamPipeline") == upstream
                       for trait in (downstream.traits or {}).values())
            found.append(Edge(upstream, name, gate))
    return found


def state_of(deps: Deps, pipeline: PipelineConfig, now: datetime) -> str:
    """This period's state of ``pipeline``: the worst over its schedules (see STATES)."""
    seen: set[str] = set()
    for schedule in pipeline.schedule_list():
        entry = deps.store.get_run_log(pipeline.name, period_at(pipeline, schedule, now).key, schedule.name)
        seen.add(_RUN_STATE.get(entry.status, "waiting") if entry else "waiting")
    if "waiting" in seen:
        readiness = deps.store.get_readiness(pipeline.name)
        if readiness is not None and readiness.blocking:
            seen.add("blocked")
    return next(state for state in STATES if state in seen)


def layers(names: list[str], links: list[Edge]) -> dict[str, int]:
    """Column of each pipeline: one right of its deepest upstream (a cycle stops growing at len(names))."""
    depth = dict.fromkeys(names, 0)
    for _ in range(len(names)):
        changed = False
        for edge in links:
            if edge.upstream != edge.downstream and depth[edge.downstream] < depth[edge.upstream] + 1 < len(names):
                depth[edge.downstream] = depth[edge.upstream] + 1
                changed = True
        if not changed:
            break
    return depth


def render_graph(deps: Deps, now: datetime, total: int | None = None) -> str:
    """The status page's section with the picture ('' without pipelines).

    ``total`` (the index's count of pipelines, when the caller has it) decides before any pipeline is
    read: past ``MAX_NODES`` the picture is left out with a note, so a large installation's page never
    reads every config for it (the attention list and the pages below are where to look there).
    """
    if total is not None and total > MAX_NODES:
        return _too_many(total)
    pipelines = sorted(deps.store.list_pipelines(), key=lambda p: p.name)
    if not pipelines:
        return ""
    if len(pipelines) > MAX_NODES:
        return _too_many(len(pipelines))
    links = edges(deps, pipelines)
    column = layers([p.name for p in pipelines], links)
    rows: dict[int, int] = {}
    where: dict[str, tuple[int, int]] = {}
    row_of: dict[str, int] = {}
    linked = {e.upstream for e in links} | {e.downstream for e in links}
    for col in sorted(set(column.values())):
        # Within a column: under the mean row of its upstreams (fewer crossings), linked ones first.
        def order(p: PipelineConfig) -> tuple[float, str]:
            ups = [row_of[e.upstream] for e in links if e.downstream == p.name and e.upstream in row_of]
            return (sum(ups) / len(ups) if ups else (0 if p.name in linked else len(pipelines)), p.name)

        for p in sorted((p for p in pipelines if column[p.name] == col), key=order):
            row = rows.get(col, 0)
            rows[col] = row + 1
            row_of[p.name] = row
            where[p.name] = (PAD + col * (NODE_W + COL_GAP), PAD + row * (NODE_H + ROW_GAP))
    width = PAD * 2 + (max(column.values()) + 1) * (NODE_W + COL_GAP) - COL_GAP
    height = PAD * 2 + max(rows.values()) * (NODE_H + ROW_GAP) - ROW_GAP
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="graph" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="pipeline dependencies">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
             'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#5f6368"/></marker></defs>']
    for edge in links:
        (ux, uy), (dx, dy) = where[edge.upstream], where[edge.downstream]
        x1, y1, x2, y2 = ux + NODE_W, uy + NODE_H / 2, dx, dy + NODE_H / 2
        bend = max(abs(x2 - x1) / 2, 40)
        dash = "" if edge.gate else ' stroke-dasharray="5 4"'
        kind = "upstream-job-log" if edge.gate else "cascade"
        parts.append(f'<path class="edge" data-from="{escape(edge.upstream)}" data-to="{escape(edge.downstream)}" '
                     f'data-kind="{kind}" d="M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}" fill="none" '
                     f'stroke="#5f6368" stroke-width="1.6"{dash} marker-end="url(#arrow)">'
                     f"<title>{escape(edge.upstream)} → {escape(edge.downstream)} ({kind})</title></path>")
    for p in pipelines:
        x, y = where[p.name]
        state = state_of(deps, p, now)
        fill, stroke, words = STATES[state]
        label = p.name if len(p.name) <= 24 else p.name[:23] + "…"
        parts.append(f'<g class="node" data-pipeline="{escape(p.name)}" data-state="{state}">'
                     f"<title>{escape(p.name)}: {words} this period</title>"
                     f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="7" fill="{fill}" '
                     f'stroke="{stroke}" stroke-width="2"/>'
                     f'<text x="{x + 10}" y="{y + 20}" font-size="13" font-weight="600" fill="#1d2433">'
                     f"{escape(label)}</text>"
                     f'<text x="{x + 10}" y="{y + 38}" font-size="11" fill="{stroke}">{words}</text></g>')
    parts.append("</svg>")
    legend = " · ".join(f'<span style="color:{stroke}">■</span> {words}' for _, stroke, words in STATES.values())
    return (f"<style>{STYLE}</style><h2 class=graph-title>Dependencies</h2><div class=graph-box>"
            + "".join(parts) + "</div>"
            f"<p class=ev>{legend} · solid arrow: the downstream waits for the upstream's run "
            "(upstream-job-log) · dashed: cascade only</p>")


def _too_many(total: int) -> str:
    return (f'<h2 class=graph-title>Dependencies</h2><p class=ev>{total} pipelines: the picture is drawn for at most '
            f"{MAX_NODES}.</p>")
