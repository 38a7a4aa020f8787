"""Command triggers never go through a shell unless the pipeline says ``shell: true``.

Each hostile command line tries to create a marker file through shell syntax (``;``, ``&&``,
``|``, ``$(...)``, backquotes, a redirect). Without a shell the syntax is just arguments to
``echo`` and no file appears; the same line with ``shell: true`` does create it, which shows the
test can tell the difference.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from interlock.model import TriggerConfig
from interlock.triggers import TriggerContext, trigger_for

INJECTIONS = ["echo hi; touch {m}", "echo hi && touch {m}", "echo hi | touch {m}", "echo $(touch {m})",
              "echo `touch {m}`", "echo hi > {m}", "echo hi\ntouch {m}"]


def run(tmp_path: Path, command: str, shell: bool) -> None:
    config = TriggerConfig.model_validate({"type": "command", "command": {"command": command, "shell": shell}})
    ctx = TriggerContext("orders-daily-2026-03-01-1", "orders", "daily", "2026-03-01", tmp_path)
    trigger_for(config.type).start(config, ctx)


@pytest.mark.parametrize("template", INJECTIONS)
def test_shell_syntax_in_a_command_does_nothing_without_shell_true(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "pwned"
    run(tmp_path, template.format(m=marker), shell=False)
    assert not marker.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("template", INJECTIONS)
def test_the_same_line_with_shell_true_does_run_the_shell(tmp_path: Path, template: str) -> None:
    marker = tmp_path / "pwned"
    run(tmp_path, template.format(m=marker), shell=True)
    assert marker.exists()


def test_the_default_is_no_shell(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    config = TriggerConfig.model_validate({"type": "command", "command": {"command": f"echo hi; touch {marker}"}})
    trigger_for(config.type).start(config, TriggerContext("r", "orders", "daily", "2026-03-01", tmp_path))
    assert not marker.exists()
