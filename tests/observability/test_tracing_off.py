"""Tracing is off unless the OTEL_* variables ask for it, and then costs no import of OpenTelemetry."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
# Refuses every opentelemetry import, so any use of it by Interlock's code fails loudly.
BLOCK = """
    import sys
    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError("opentelemetry imported: " + name)
    sys.meta_path.insert(0, Block())
"""


def _python(code: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(BLOCK) + textwrap.dedent(code)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, env={**env, "PYTHONPATH": str(ROOT)})


def test_with_no_otel_variables_a_step_runs_without_opentelemetry() -> None:
    # The worker side (the steps, the Celery dispatcher). The API server cannot be checked so:
    # FastAPI itself imports opentelemetry-api (its own telemetry module), whatever Interlock does.
    result = _python("""
        from interlock import correlation, tracing
        from interlock.steps import registry
        import workers.context
        registry.import_steps()
        assert tracing.setup("interlock-worker") is False
        with correlation.pushed(), correlation.bound(pipeline="p"), tracing.span("interlock.push", pipeline="p"):
            headers = correlation.outgoing()
            assert set(headers) == {"interlock_pushed_at"}, headers
            assert correlation.ids() == {"pipeline": "p"}
        assert not [m for m in sys.modules if m.startswith("opentelemetry")]
        print("ok")
    """)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


def test_asking_for_traces_without_the_extra_says_how_to_install_it() -> None:
    result = _python("""
        from interlock import tracing
        try:
            tracing.setup("interlock-api", {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
        except RuntimeError as exc:
            print(exc)
    """)
    assert "pip install 'interlock[otel]'" in result.stdout, result.stderr


def test_which_variables_switch_tracing_on() -> None:
    from interlock.tracing import wanted

    assert not wanted({})
    assert wanted({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert wanted({"OTEL_TRACES_EXPORTER": "otlp"})
    assert not wanted({"OTEL_TRACES_EXPORTER": "none", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert not wanted({"OTEL_SDK_DISABLED": "true", "OTEL_TRACES_EXPORTER": "otlp"})


def test_an_exporter_interlock_cannot_use_is_refused_by_name() -> None:
    import pytest

    from interlock import tracing

    with pytest.raises(ValueError, match="OTEL_TRACES_EXPORTER='zipkin'"):
        tracing.setup("x", {"OTEL_TRACES_EXPORTER": "zipkin"})
    assert not tracing.enabled()
