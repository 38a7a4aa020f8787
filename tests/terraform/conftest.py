"""Shared helpers for the Terraform tests: the parsed configuration and the tools that check it.

The .tf files are read with python-hcl2, which gives each expression as text (``"${var.x}"``); the
tests look at literal values and at which expression a setting is wired to, never evaluate HCL.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hcl2
import pytest
from hcl2 import SerializationOptions

ROOT = Path(__file__).resolve().parents[2]
TERRAFORM_DIR = ROOT / "terraform"
ASL = TERRAFORM_DIR / "statemachine.asl.json"
# The five ARNs stepfunctions.tf hands to templatefile(); the ASL may use no other ${...}.
ASL_PLACEHOLDERS = frozenset(
    {"OrchestratorFunctionArn", "EvaluatorFunctionArn", "TriggerFunctionArn", "RunCheckerFunctionArn", "AlertTopicArn"}
)
# Local provider mirror (no registry access here); INTERLOCK_TF_PLUGIN_MIRROR points elsewhere.
PROVIDER_MIRROR = Path(os.environ.get("INTERLOCK_TF_PLUGIN_MIRROR", "/opt/tf-plugins"))

_OPTIONS = SerializationOptions(strip_string_quotes=True, with_comments=False, explicit_blocks=False)


@dataclass(frozen=True)
class Config:
    """All top-level blocks of terraform/*.tf, merged across files."""

    blocks: dict[str, list[dict[str, Any]]]

    def _named(self, kind: str, type_: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for entry in self.blocks.get(kind, []):
            for name, body in entry.get(type_, {}).items():
                found[name] = body
        return found

    def resources(self, type_: str) -> dict[str, dict[str, Any]]:
        return self._named("resource", type_)

    def resource(self, type_: str, name: str) -> dict[str, Any]:
        found = self.resources(type_)
        assert name in found, f"terraform/ declares no {type_}.{name}"
        return found[name]

    def data(self, type_: str) -> dict[str, dict[str, Any]]:
        return self._named("data", type_)

    @property
    def locals(self) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for entry in self.blocks.get("locals", []):
            merged.update(entry)
        return merged

    @property
    def variables(self) -> dict[str, dict[str, Any]]:
        return {name: body for entry in self.blocks.get("variable", []) for name, body in entry.items()}

    @property
    def outputs(self) -> dict[str, dict[str, Any]]:
        return {name: body for entry in self.blocks.get("output", []) for name, body in entry.items()}


def load_config(directory: Path = TERRAFORM_DIR) -> Config:
    blocks: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.tf")):
        with path.open() as f:
            parsed = hcl2.load(f, serialization_options=_OPTIONS)
        for kind, entries in parsed.items():
            blocks.setdefault(kind, []).extend(entries if isinstance(entries, list) else [entries])
    return Config(blocks)


def block(body: dict[str, Any], name: str) -> dict[str, Any]:
    """The single nested block ``name`` of a resource body (hcl2 gives blocks as one-element lists)."""
    value = body.get(name)
    assert isinstance(value, list) and len(value) == 1, f"expected exactly one {name} block, got {value!r}"
    inner = value[0]
    assert isinstance(inner, dict)
    return inner


def string_list(expression: str | list[str]) -> list[str]:
    """The literal list inside an expression such as ``${toset(["a", "b"])}`` (or a plain HCL list)."""
    if isinstance(expression, list):
        return expression
    match = re.search(r"\[[^\[\]]*\]", expression)
    assert match, f"no literal list in {expression!r}"
    values = json.loads(match.group(0))
    assert all(isinstance(v, str) for v in values)
    return list(values)


def lambda_modules(config: Config) -> list[str]:
    """The handler modules terraform/lambda.tf deploys (its ``local.lambda_modules``)."""
    return string_list(config.locals["lambda_modules"])


@pytest.fixture(scope="session")
def tf() -> Config:
    return load_config()


@pytest.fixture(scope="session")
def terraform_bin() -> str:
    found = shutil.which("terraform")
    if not found:
        pytest.skip("no terraform binary on PATH: install Terraform >= 1.5 to run the fmt/validate checks")
    return found


@pytest.fixture
def terraform_copy(tmp_path: Path) -> Iterator[Path]:
    """A copy of terraform/ to init and validate in, so no .terraform/ lands in the checkout.

    templatefile() reads the ASL at validate time: until the ASL author's terraform/statemachine.asl.json
    exists, the copy gets a one-state placeholder using the same five ARNs; once it exists, the real
    file is what gets validated.
    """
    copy = tmp_path / "terraform"
    shutil.copytree(TERRAFORM_DIR, copy, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*"))
    if not ASL.exists():
        (copy / ASL.name).write_text(json.dumps(placeholder_asl(), indent=2))
    yield copy


def placeholder_asl() -> dict[str, Any]:
    """A minimal valid ASL naming every ARN stepfunctions.tf substitutes."""
    arn = "${%s}"
    return {
        "Comment": "Placeholder used by tests/terraform until terraform/statemachine.asl.json exists",
        "StartAt": "Orchestrate",
        "States": {
            "Orchestrate": {"Type": "Task", "Resource": arn % "OrchestratorFunctionArn", "Next": "Evaluate"},
            "Evaluate": {"Type": "Task", "Resource": arn % "EvaluatorFunctionArn", "Next": "Trigger"},
            "Trigger": {"Type": "Task", "Resource": arn % "TriggerFunctionArn", "Next": "CheckRun"},
            "CheckRun": {"Type": "Task", "Resource": arn % "RunCheckerFunctionArn", "Next": "Alert"},
            "Alert": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sns:publish",
                "Parameters": {"TopicArn": arn % "AlertTopicArn", "Message.$": "$"},
                "End": True,
            },
        },
    }
