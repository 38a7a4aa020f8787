"""Every trigger example in the README's trigger reference loads as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from interlock.model import TriggerConfig, TriggerType

README = Path(__file__).resolve().parents[1] / "README.md"


def trigger_examples() -> list[str]:
    """The ``trigger:`` documents of the yaml block that opens with the command trigger."""
    fences = re.findall(r"```yaml\n(.*?)```", README.read_text(), flags=re.S)
    (reference,) = [f for f in fences if f.startswith("trigger:") and "type: command" in f]
    return ["trigger:" + part for part in reference.split("trigger:")[1:]]


@pytest.mark.parametrize("example", trigger_examples(), ids=lambda text: text.split("type: ")[1].split()[0])
def test_each_trigger_example_in_the_readme_loads(example: str) -> None:
    config = TriggerConfig.model_validate(yaml.safe_load(example)["trigger"])
    assert config.block() is not None


def test_the_reference_has_an_example_of_every_built_in_trigger() -> None:
    documented = {yaml.safe_load(e)["trigger"]["type"] for e in trigger_examples()}
    assert documented == {t.value for t in TriggerType} - {"plugin"}
