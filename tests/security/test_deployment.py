"""The shipped deployment: Flower needs basic auth with no default password; Redis stays private.

docker-compose.yml is parsed (no Docker engine here) and its ``${...}`` references are resolved
the way Compose does (``${VAR:-default}``, ``${VAR:?error}``), so the test sees the command the
container would really get.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pytest
import yaml

from interlock.cli import cli

ROOT = Path(__file__).resolve().parents[2]
_REFERENCE = re.compile(r"\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


class Refused(Exception):
    """Compose refuses to start: a ``${VAR:?message}`` variable is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's variable substitution for the forms used in the file."""
    def one(match: re.Match[str]) -> str:
        name, op, arg = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if op in (":-", "-"):
            return value if value or (op == "-" and value is not None) else arg
        if op in (":?", "?"):
            if value is None or (op == ":?" and not value):
                raise Refused(f"{name}: {arg}")
            return value
        return value or ""

    return _REFERENCE.sub(one, text)


def services() -> dict[str, Any]:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    found: dict[str, Any] = compose["services"]
    return found


def flower_command(env: Mapping[str, str]) -> list[str]:
    return [interpolate(arg, env) for arg in services()["flower"]["command"]]


def test_flower_will_not_start_without_a_password() -> None:
    for env in ({}, {"FLOWER_USER": "ops"}, {"FLOWER_PASSWORD": ""}):
        with pytest.raises(Refused, match="FLOWER_PASSWORD"):
            flower_command(env)


def test_flower_runs_with_basic_auth_from_the_environment() -> None:
    command = flower_command({"FLOWER_PASSWORD": "correct horse"})
    assert command[:4] == ["celery", "-A", "workers.app", "flower"]
    assert "--basic-auth=admin:correct horse" in command
    assert flower_command({"FLOWER_USER": "ops", "FLOWER_PASSWORD": "pw"})[-1] == "--basic-auth=ops:pw"


def test_no_flower_password_is_shipped() -> None:
    flower = services()["flower"]
    (auth,) = [arg.removeprefix("--basic-auth=") for arg in flower["command"] if arg.startswith("--basic-auth=")]
    _user, password = auth.split("}:", 1) if auth.startswith("${") else auth.split(":", 1)
    assert re.fullmatch(r"\$\{FLOWER_PASSWORD:\?[^}]*\}", password), password
    environment = {**(flower.get("environment") or {})}
    assert not {"FLOWER_PASSWORD", "FLOWER_BASIC_AUTH"} & set(environment)
    assert not (ROOT / ".env").exists(), "a .env file would ship a default for FLOWER_PASSWORD"


def test_redis_and_postgres_are_not_published_on_the_host() -> None:
    # Whoever reaches Redis controls Interlock (it is the broker and the state): it stays on the
    # compose network. Flower (with auth) is the only Celery-side port published.
    for name in ("redis", "postgres"):
        assert not services()[name].get("ports"), name
    published = {name for name, service in services().items() if service.get("ports")}
    assert published <= {"flower", "api", "prometheus", "grafana"}
    # The observability profile's Prometheus (no authentication) and Grafana listen on loopback only.
    for name in ("prometheus", "grafana"):
        assert all(str(port).startswith("127.0.0.1:") for port in services()[name]["ports"]), name


def command_names(group: click.Group, prefix: str = "") -> set[str]:
    names: set[str] = set()
    for name, command in group.commands.items():
        names.add(prefix + name)
        if isinstance(command, click.Group):
            names |= command_names(command, f"{prefix}{name} ")
    return names


def test_the_cli_has_no_command_that_starts_flower() -> None:
    # Flower is started only by docker-compose.yml (above). A CLI command for it must require
    # basic auth the same way; this test is the reminder.
    import interlock.cli  # noqa: F401  (registers every command)

    names = command_names(cli)
    assert {"serve", "worker", "beat"} <= names
    assert not [n for n in names if "flower" in n]
