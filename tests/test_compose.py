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


def test_the_observability_profile_adds_prometheus_and_grafana_only() -> None:
    services = compose()["services"]
    profiled = {name for name, s in services.items() if "observability" in s.get("profiles", [])}
    assert profiled == {"prometheus", "grafana"}
    assert all("profiles" not in s for name, s in services.items() if name not in profiled)  # the stack stays as it was


def test_every_file_the_observability_services_mount_exists() -> None:
    services = compose()["services"]
    for name in ("prometheus", "grafana"):
        for volume in services[name]["volumes"]:
            source, target = volume.split(":")[:2]
            assert (ROOT / source).exists(), (name, source)
            assert target.startswith("/")
    mounted = {v.split(":")[1]: v.split(":")[0] for v in services["prometheus"]["volumes"]}
    config = yaml.safe_load((ROOT / mounted["/etc/prometheus/prometheus.yml"]).read_text())
    assert set(config["rule_files"]) <= set(mounted), "a rule file prometheus.yml loads is not mounted"


def test_prometheus_scrapes_the_api_service_on_the_port_it_serves() -> None:
    services = compose()["services"]
    config = yaml.safe_load((ROOT / "deploy/prometheus/prometheus.yml").read_text())
    interlock = next(job for job in config["scrape_configs"] if job["job_name"] == "interlock")
    targets = [t for group in interlock["static_configs"] for t in group["targets"]]
    assert targets == ["api:3000"]
    host, port = targets[0].split(":")
    command = services[host]["command"]
    assert command[:2] == ["interlock", "serve"]
    assert command[command.index("--port") + 1] == port
    assert command[command.index("--host") + 1] == "0.0.0.0"  # reachable from the prometheus container
    assert interlock["metrics_path"] == "/metrics"


def test_grafana_is_provisioned_with_the_dashboard_and_the_prometheus_service() -> None:
    grafana = compose()["services"]["grafana"]
    mounts = {v.split(":")[1]: v.split(":")[0] for v in grafana["volumes"]}
    provisioning = ROOT / mounts["/etc/grafana/provisioning"]
    source = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"][0]
    assert source["url"] == "http://prometheus:9090"
    assert "127.0.0.1:9090:9090" in compose()["services"]["prometheus"]["ports"]
    provider = yaml.safe_load((provisioning / "dashboards" / "interlock.yml").read_text())["providers"][0]
    dashboard_dir = provider["options"]["path"]
    assert any(target.startswith(dashboard_dir + "/") and source.endswith("deploy/grafana/interlock.json")
               for target, source in mounts.items())
