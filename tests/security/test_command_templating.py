"""The command trigger gets the same templating as every trigger, and a value never becomes code.

Before, ``${date}`` and ``${runId}`` reached the command literally (without a shell) or as empty
shell variables (with one), although the README says every trigger string may use them (issue 15,
item 4). The values here are hostile on purpose: spaces, both quote characters, ``;``, ``$(...)``
and backquotes, each trying to create a marker file. Without a shell each templated argument stays
exactly one argument; with ``shell: true`` the shell receives the values as variables, so the
value arrives unchanged in double quotes and no marker appears wherever the script uses it.
"""

from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

import pytest

from interlock.model import FailureCategory, TriggerConfig
from interlock.triggers import TriggerContext, TriggerError, trigger_for

HOSTILE = """a b; touch pwned1 "$(touch pwned2)" `touch pwned3` '; touch pwned4; '" ; touch pwned5; "\\"""
# A period as a hostile caller would pass it (periods from the scheduler never look like this).
HOSTILE_PERIOD = "2026-03-01; touch pwned6"
DUMP_ARGS = f"{shlex.quote(sys.executable)} -c 'import json, sys; json.dump(sys.argv[1:], open(\"args.json\", \"w\"))'"


def start(root: Path, command: str, shell: bool, period: str = "2026-03-01") -> None:
    config = TriggerConfig.model_validate({"type": "command", "command": {"command": command, "shell": shell}})
    ctx = TriggerContext(f"orders-h07-{period}-1", "orders", "h07", period, root)
    trigger_for(config.type).start(config, ctx)


def markers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.name.startswith("pwned"))


def test_templates_fill_each_argument_of_a_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_LOAD_TOKEN", "t0ken")
    start(tmp_path, f"{DUMP_ARGS} --date ${{date}} run=${{runId}} ${{hour}} ${{scheduleId}} ${{pipelineId}} "
                    "'${INTERLOCK_LOAD_TOKEN}' ${HOME} ${unknown}", shell=False)
    args = json.loads((tmp_path / "args.json").read_text())
    assert args == ["--date", "2026-03-01", "run=orders-h07-2026-03-01-1", "07", "h07", "orders", "t0ken",
                    "${HOME}", "${unknown}"]  # only our variables: $HOME is not read into a command


def test_a_templated_value_stays_one_argument_and_runs_nothing(tmp_path: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_HOSTILE", HOSTILE)
    start(tmp_path, f"{DUMP_ARGS} ${{INTERLOCK_HOSTILE}} x${{date}}x", shell=False, period=HOSTILE_PERIOD)
    assert json.loads((tmp_path / "args.json").read_text()) == [HOSTILE, f"x{HOSTILE_PERIOD}x"]
    assert markers(tmp_path) == []


def test_with_a_shell_the_values_arrive_unchanged_and_never_run(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INTERLOCK_HOSTILE", HOSTILE)
    script = ("printf '%s' \"${date}\" > date.txt; printf '%s' \"${INTERLOCK_HOSTILE}\" > value.txt; "
              "printf '%s' \"run ${runId} of ${pipelineId}\" > run.txt; "
              "echo ${INTERLOCK_HOSTILE} ${date} > unquoted.txt; echo '${date}' > single.txt")
    start(tmp_path, script, shell=True, period=HOSTILE_PERIOD)
    assert (tmp_path / "date.txt").read_text() == HOSTILE_PERIOD
    assert (tmp_path / "value.txt").read_text() == HOSTILE
    assert (tmp_path / "run.txt").read_text() == f"run orders-h07-{HOSTILE_PERIOD}-1 of orders"
    assert (tmp_path / "unquoted.txt").exists()  # split into words like any unquoted shell variable, not run
    assert (tmp_path / "single.txt").read_text() == "${date}\n"  # single quotes: the shell's rule
    assert markers(tmp_path) == []


@pytest.mark.parametrize("shell", [False, True])
def test_an_unset_interlock_variable_in_a_command_is_a_permanent_error(tmp_path: Path, shell: bool,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INTERLOCK_NOT_SET", raising=False)
    with pytest.raises(TriggerError, match="INTERLOCK_NOT_SET is not set") as raised:
        start(tmp_path, "touch ran ${INTERLOCK_NOT_SET}", shell=shell)
    assert raised.value.category is FailureCategory.PERMANENT
    assert not (tmp_path / "ran").exists()
