"""The dashboard renderer (deploy/render_dashboard.py) without the live run: every panel's query is
taken from the dashboard JSON, and a canned Prometheus ``query_range`` answer becomes one SVG per
panel at the panel's place on the grid."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from deploy.render_dashboard import DASHBOARD, Series, Target, legend, panels, render_html, series_of
from tests.observability.rules import dashboard_queries

START, END = 1_796_540_000.0, 1_796_540_090.0


def _matrix(*results: tuple[dict[str, str], list[float]]) -> dict[str, Any]:
    return {"status": "success", "data": {"resultType": "matrix", "result": [
        {"metric": labels, "values": [[START + 30 * i, str(v)] for i, v in enumerate(values)]}
        for labels, values in results]}}


def test_every_panel_and_every_query_of_the_dashboard_is_taken() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    found = panels(dashboard)
    assert [p.title for p in found] == [p["title"] for p in dashboard["panels"]]
    assert [t.expr for p in found for t in p.targets] == dashboard_queries()
    assert {p.kind for p in found} == {"timeseries", "bargauge"}


def test_a_panel_without_a_query_is_refused_by_name() -> None:
    dashboard = {"panels": [{"title": "Empty", "type": "timeseries", "gridPos": {"x": 0, "y": 0, "w": 6, "h": 4},
                             "targets": []}]}
    with pytest.raises(ValueError, match=r"panels\[0\] \('Empty'\) has no PromQL target"):
        panels(dashboard)


def test_legends_follow_grafanas_label_templates() -> None:
    assert legend("{{queue}} waiting", {"queue": "trigger"}) == "trigger waiting"
    assert legend("failed {{ category }}", {"category": "TIMEOUT"}) == "failed TIMEOUT"
    assert legend("", {"b": "2", "a": "1"}) == '{a="1", b="2"}'


def test_an_answer_becomes_series_and_a_refusal_is_an_error() -> None:
    target = Target("max by (queue) (interlock_queue_depth)", "{{queue}}")
    answer = _matrix(({"queue": "trigger"}, [0, 2, 1]), ({"queue": "alerts"}, [0, 0, 0]))
    answer["data"]["result"][0]["values"].append([END, "NaN"])  # no value at that step: left out
    found = series_of(answer, target)
    assert [s.name for s in found] == ["trigger", "alerts"]
    assert found[0].points == ((START, 0.0), (START + 30, 2.0), (START + 60, 1.0))
    with pytest.raises(ValueError, match="Prometheus refused"):
        series_of({"status": "error", "error": "parse error"}, target)


def test_the_page_has_one_svg_per_panel_a_line_per_series_and_no_outside_resource() -> None:
    found = panels(json.loads(DASHBOARD.read_text()))
    results = [[Series(f"series {i}-{n}", ((START, 1.0), (START + 45, 3.0), (END, 2.0))) for n in range(2)]
               for i in range(len(found))]
    results[-1] = []  # a panel whose queries answered nothing says so
    page = render_html(found, results, START, END, "canned")
    assert page.count("<svg") == len(found)
    assert page.count('class="panel"') == len(found)
    timeseries = [i for i, p in enumerate(found[:-1]) if p.kind == "timeseries"]
    assert page.count("<polyline") == 2 * len(timeseries)
    assert page.count("No data") == 1
    for panel in found:
        assert f"<h2>{panel.title.replace('&', '&amp;')}</h2>" in page
    # Placed on the dashboard's 24-column grid: a panel at x=12 starts half-way across.
    lefts = {p.title: int(m) for p in found
             for m in re.findall(rf'left:(\d+)px;top:\d+px[^>]*><h2>{re.escape(p.title)}<', page)}
    assert lefts["Triggers and failures per minute"] == 20 + 780
    assert not re.search(r"(src|href)=\"?https?:", page)  # self-contained: nothing fetched
