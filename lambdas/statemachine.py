"""The lifecycle state machine's definition and how it is rendered, as Terraform's templatefile does.

``terraform/statemachine.asl.json`` holds five placeholders — the four Lambda ARNs and the alert
topic — and no other ``${`` / ``%{`` (templatefile would read them as template syntax). JSONPath's
``$.`` must stay as it is, so only the braced form is a placeholder here, exactly as in Terraform.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path

ASL_PATH = Path(__file__).resolve().parents[1] / "terraform" / "statemachine.asl.json"
PLACEHOLDERS = ("OrchestratorFunctionArn", "EvaluatorFunctionArn", "TriggerFunctionArn", "RunCheckerFunctionArn",
                "AlertTopicArn")


class AslTemplate(string.Template):
    """``${Name}`` only: a bare ``$`` (every JSONPath) is text, not a placeholder."""

    # The other groups string.Template requires can never match.
    pattern = r"\$\{(?P<braced>[A-Za-z][A-Za-z0-9]*)\}|(?P<escaped>(?!))|(?P<named>(?!))|(?P<invalid>(?!))"  # type: ignore[assignment]


def render(arns: Mapping[str, str], text: str | None = None) -> str:
    """The definition with every placeholder replaced; KeyError names a missing one."""
    missing = [name for name in PLACEHOLDERS if name not in arns]
    if missing:
        raise KeyError(f"no value for {', '.join(missing)}")
    template = AslTemplate(ASL_PATH.read_text() if text is None else text)
    return template.substitute({name: arns[name] for name in PLACEHOLDERS})
