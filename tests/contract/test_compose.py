"""deploy/docker-compose.yml, its smoke-test override and the Dockerfile, checked without an engine.

``docker-compose config`` (Debian's docker-compose, installed by ``make
system``) validates and resolves both files with deploy/.env.example; the
resolved configuration is then held to what the deployment promises: every
long-lived service has a health check, dependencies wait on conditions, two
control planes share one database, executors are replicas that register
themselves, state lives in named volumes, nothing is published beyond
loopback by default. The running stack is ``make test-deploy`` (tests/deploy).
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SMOKE = DEPLOY / "docker-compose.smoke.yml"
ENV_EXAMPLE = DEPLOY / ".env.example"
SMOKE_PROMETHEUS = DEPLOY / "smoke" / "prometheus.yml"
PROMETHEUS = DEPLOY / "prometheus" / "prometheus.yml"

CCPLANE_SERVICES = {"control-plane", "executor-manager", "executor", "gateway"}
ONE_SHOT = {"migrate", "objectstore-init"}
EXPECTED = (
    CCPLANE_SERVICES
    | ONE_SHOT
    | {
        "envoy",
        "postgres",
        "rustfs",
        "prometheus",
        "alertmanager",
        "grafana",
        "loki",
        "promtail",
    }
)
LEFT_OUT_OF_SMOKE = {"rustfs", "grafana", "loki", "promtail", "envoy"}
REPLACED_IN_SMOKE = {"postgres", "prometheus", "alertmanager"}


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: `make system` installs it (tools/setup-system.sh)")
    return path


def compose_config(*files: Path) -> dict[str, Any]:
    """``docker-compose config`` of ``files`` with deploy/.env.example, resolved."""
    command = [_tool("docker-compose")]
    for file in files:
        command += ["-f", str(file)]
    command += ["--env-file", str(ENV_EXAMPLE), "--project-directory", str(DEPLOY)]
    checked = subprocess.run([*command, "config", "-q"], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr
    resolved = subprocess.run([*command, "config"], capture_output=True, text=True, check=True)
    config: dict[str, Any] = yaml.safe_load(resolved.stdout)
    return config


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return compose_config(COMPOSE)


@pytest.fixture(scope="module")
def smoke() -> dict[str, Any]:
    return compose_config(COMPOSE, SMOKE)


def _one_shot(config: dict[str, Any], name: str) -> bool:
    """A job run to completion: not restarted, and waited for by its dependents."""
    service = config["services"][name]
    waited = any(
        dep.get("condition") == "service_completed_successfully"
        for other in config["services"].values()
        for dep_name, dep in other.get("depends_on", {}).items()
        if dep_name == name
    )
    return service.get("restart", "no") == "no" and waited


def test_the_deployment_has_every_service(full: dict[str, Any]) -> None:
    assert set(full["services"]) == EXPECTED


def test_every_service_has_a_health_check_or_is_a_one_shot_job(full: dict[str, Any]) -> None:
    for name, service in full["services"].items():
        if name in ONE_SHOT:
            assert _one_shot(full, name), name
            # Not the image's HEALTHCHECK: a job has nothing to serve.
            assert service["healthcheck"]["test"] == ["NONE"], name
        else:
            test = service.get("healthcheck", {}).get("test")
            assert test and test != ["NONE"], f"{name} has no health check"
            assert service.get("restart") == "unless-stopped", name


def test_ccplane_health_checks_use_grpc_health_or_healthz(full: dict[str, Any]) -> None:
    services = full["services"]
    for name in ("control-plane", "executor-manager", "executor"):
        test = services[name]["healthcheck"]["test"]
        assert test[:4] == ["CMD", "ccplane", "health", "--address"], name
    assert services["control-plane"]["healthcheck"]["test"][-1] == "127.0.0.1:50051"
    assert services["executor-manager"]["healthcheck"]["test"][-1] == "127.0.0.1:50052"
    assert services["executor"]["healthcheck"]["test"][-1] == "127.0.0.1:50060"
    assert services["gateway"]["healthcheck"]["test"] == [
        "CMD",
        "ccplane",
        "health",
        "--http",
        "http://127.0.0.1:3001/healthz",
    ]


def test_dependencies_wait_on_conditions(full: dict[str, Any]) -> None:
    services = full["services"]
    for name, service in services.items():
        for dep, spec in service.get("depends_on", {}).items():
            assert dep in services, f"{name} depends on unknown {dep}"
            assert spec.get("condition") in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }, (name, dep)
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("control-plane", "executor-manager"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services["gateway"]["depends_on"]["control-plane"]["condition"] == "service_healthy"
    assert services["executor"]["depends_on"]["executor-manager"]["condition"] == "service_healthy"


def test_two_control_planes_share_one_database(full: dict[str, Any]) -> None:
    """docker-compose 1.29 starts deploy.replicas containers (project.get_service_scale)."""
    services = full["services"]
    plane = services["control-plane"]
    assert plane["deploy"]["replicas"] == 2
    assert "ports" not in plane  # replicas cannot share a host port; clients use the gateway or Envoy
    env = plane["environment"]
    assert env["CCPLANE_DATABASE_URL"].endswith("@postgres:5432/ccplane")
    assert env["CCPLANE_GRPC_HOST"] == "0.0.0.0"
    assert env["CCPLANE_EXECUTOR_MANAGER_ADDR"] == "executor-manager:50052"
    assert env["CCPLANE_METRICS_HOST"] == "0.0.0.0"
    assert env["CCPLANE_OBJECT_STORE_URL"].startswith("s3://")
    assert env["CCPLANE_OBJECT_STORE_URL"].endswith("?endpoint=http://rustfs:9000")
    assert services["migrate"]["environment"]["CCPLANE_DATABASE_URL"] == env["CCPLANE_DATABASE_URL"]


def test_executors_are_replicas_that_register_themselves(full: dict[str, Any]) -> None:
    services = full["services"]
    manager = services["executor-manager"]["command"]
    assert manager[0] == "executor-manager"
    assert {"--backend=external", "--host=0.0.0.0", "--port=50052", "--min-executors=0"} <= set(manager)
    executor = services["executor"]
    assert executor["deploy"]["replicas"] == 2
    assert executor["command"][0] == "executor"
    assert {"--manager=executor-manager:50052", "--backend=external", "--host=0.0.0.0"} <= set(
        executor["command"]
    )
    assert executor["init"] is True
    # Codex's sandbox (bubblewrap) needs user namespaces, which the default seccomp profile refuses.
    assert executor["security_opt"] == ["seccomp=unconfined"]
    assert "cap_add" not in executor and "privileged" not in executor and "user" not in executor
    # Sessions could read their executor's environment: no database URL there.
    assert "CCPLANE_DATABASE_URL" not in executor["environment"]
    tokens = {services[n]["environment"]["CCPLANE_INTERNAL_TOKEN"] for n in CCPLANE_SERVICES - {"gateway"}}
    assert len(tokens) == 1


def test_state_lives_in_named_volumes(full: dict[str, Any]) -> None:
    named = set(full["volumes"])
    for name, mount in {
        "postgres": "/var/lib/postgresql/data",
        "rustfs": "/data",
        "prometheus": "/prometheus",
        "alertmanager": "/alertmanager",
        "loki": "/loki",
        "grafana": "/var/lib/grafana",
        "promtail": "/var/lib/promtail",
    }.items():
        volumes = full["services"][name]["volumes"]
        sources = {v.split(":")[0] for v in volumes if v.split(":")[1] == mount}
        assert len(sources) == 1 and sources <= named, (name, volumes)


def test_bind_mounts_exist_in_the_repository() -> None:
    """Every ./ or ../ path the files mount is a file or directory here."""
    for file in (COMPOSE, SMOKE):
        text = file.read_text()
        for source in re.findall(r"^\s*- (\.\.?/[^:]+):", text, re.M):
            assert (DEPLOY / source).exists(), f"{file.name} mounts {source}, which is missing"


def test_published_ports_are_loopback_by_default(full: dict[str, Any]) -> None:
    published = {name: service["ports"] for name, service in full["services"].items() if service.get("ports")}
    assert set(published) == {"gateway", "envoy", "prometheus", "alertmanager", "grafana"}
    for name, ports in published.items():
        for port in ports:  # HOST_IP:HOST_PORT:CONTAINER_PORT/PROTOCOL
            assert port.startswith("127.0.0.1:"), (name, port)
    assert full["services"]["gateway"]["ports"] == ["127.0.0.1:3001:3001/tcp"]


def test_env_example_sets_every_required_variable() -> None:
    required = set(re.findall(r"\$\{(\w+):\?", COMPOSE.read_text()))
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert required <= set(example), required - set(example)
    assert all(example[name] for name in required)


def test_smoke_override_replaces_only_what_cannot_be_had(full: dict[str, Any], smoke: dict[str, Any]) -> None:
    services = smoke["services"]
    for name in LEFT_OUT_OF_SMOKE:
        assert services[name]["profiles"] == ["not-in-smoke"], name
    started = {name for name, s in services.items() if not s.get("profiles")}
    assert started == (EXPECTED - LEFT_OUT_OF_SMOKE) | {"model"}
    # What the test starts never pulls in a service left out.
    for name in started:
        assert not set(services[name].get("depends_on", {})) & LEFT_OUT_OF_SMOKE, name
    for name in REPLACED_IN_SMOKE:
        assert services[name]["image"].startswith(f"ccplane-smoke-{name}:"), name
        assert services[name]["image"] != full["services"][name]["image"]
        assert services[name]["healthcheck"] == full["services"][name]["healthcheck"], name
    # The rest runs as the real file says: same images, commands, health checks.
    for name in started - REPLACED_IN_SMOKE - {"model"}:
        for key in ("image", "command", "healthcheck", "depends_on", "deploy"):
            if key in full["services"][name]:
                if key == "depends_on":
                    assert full["services"][name][key].items() <= services[name][key].items(), name
                else:
                    assert services[name][key] == full["services"][name][key], (name, key)


def test_smoke_object_store_is_one_shared_volume(smoke: dict[str, Any]) -> None:
    services = smoke["services"]
    for name in ("control-plane", "executor", "objectstore-init"):
        assert services[name]["environment"]["CCPLANE_OBJECT_STORE_URL"] == "file:///var/lib/ccplane/objects"
        assert "objects:/var/lib/ccplane/objects:rw" in services[name]["volumes"], name
    assert "objects" in smoke["volumes"]


def test_smoke_prometheus_scrapes_what_the_real_one_does() -> None:
    real = yaml.safe_load(PROMETHEUS.read_text())
    fast = yaml.safe_load(SMOKE_PROMETHEUS.read_text())

    def targets(config: dict[str, Any]) -> dict[str, Any]:
        """Each job without its name and its discovery refresh intervals."""
        return {
            job["job_name"]: {
                key: (
                    [{k: v for k, v in entry.items() if k != "refresh_interval"} for entry in value]
                    if key.endswith("_sd_configs")
                    else value
                )
                for key, value in job.items()
                if key != "job_name"
            }
            for job in config["scrape_configs"]
        }

    assert targets(fast) == targets(real)
    assert fast["rule_files"] == real["rule_files"]
    assert fast["alerting"] == real["alerting"]


def test_promtool_checks_the_smoke_prometheus_config(tmp_path: Path) -> None:
    """As mounted: the smoke config beside the real rules (rules/ccplane.yml)."""
    shutil.copy(SMOKE_PROMETHEUS, tmp_path / "prometheus.yml")
    shutil.copytree(DEPLOY / "prometheus" / "rules", tmp_path / "rules")
    result = subprocess.run(
        [_tool("promtool"), "check", "config", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_contract() -> None:
    """One image: the base and wheelhouse arguments, not root, `ccplane` as entrypoint."""
    text = (ROOT / "Dockerfile").read_text()
    assert "ARG BASE_IMAGE=python:3.11-slim-bookworm" in text
    assert re.search(r"^ARG WHEELHOUSE=$", text, re.M)
    assert "--no-index --find-links" in text
    final = text[text.rindex("\nFROM ") :]
    assert re.search(r"^USER ccplane$", final, re.M)
    assert 'ENTRYPOINT ["ccplane"]' in final
    assert (
        'HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 CMD ["ccplane", "health"]'
        in final
    )
    assert "bubblewrap" in final
    assert "COPY --from=build /opt/ccplane /opt/ccplane" in final
