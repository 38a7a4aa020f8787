"""docker-compose.yml is checked by parsing it (no Docker engine here): every service runs a real command."""

from __future__ import annotations

from pathlib import Path

import yaml
from click.testing import CliRunner

from interlock.cli import cli
from interlock.steps.registry import queues

ROOT = Path(__file__).resolve().parent.parent


def compose() -> dict:  # type: ignore[type-arg]
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_has_the_whole_stack_with_one_worker_per_queue() -> None:
    services = compose()["services"]
    assert {"redis", "postgres", "beat", "flower"} <= set(services)
    worker_queues = {s["command"][3] for name, s in services.items() if name.startswith("worker-")}
    assert worker_queues == set(queues())


def test_every_interlock_command_in_compose_is_a_real_cli_command() -> None:
    runner = CliRunner()
    for name, service in compose()["services"].items():
        command = service.get("command") or []
        if command[:1] != ["interlock"]:
            continue
        result = runner.invoke(cli, [*command[1:], "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_flower_runs_the_celery_app_with_basic_auth() -> None:
    flower = compose()["services"]["flower"]["command"]
    assert flower[:4] == ["celery", "-A", "workers.app", "flower"]
    assert any(arg.startswith("--basic-auth=") for arg in flower)


def test_services_share_one_config_and_the_env_overrides() -> None:
    services = compose()["services"]
    for name in ("beat", "worker-trigger", "flower", "migrate"):
        env = services[name]["environment"]
        assert env["INTERLOCK_CONFIG"] == "/project/interlock.yaml"
        assert env["INTERLOCK_REDIS_URL"].startswith("redis://redis:")
        assert env["INTERLOCK_DATABASE_URL"].startswith("postgresql://")
