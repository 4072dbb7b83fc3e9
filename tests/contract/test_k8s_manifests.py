"""deploy/k8s: both overlays build, validate offline, and keep their promises.

No cluster runs here. ``kubectl kustomize`` builds each overlay; every object
of the output is validated against the Kubernetes OpenAPI schemas shipped by
``kubernetes-validate`` (strict: no unknown fields) for pinned Kubernetes
versions; then the output is checked for what deploy/k8s/README.md promises:
replicas, probes, non-root pods, the one image, the migration Job, disruption
budgets, the executors' network policy and autoscaler, and no secret values.
"""

from __future__ import annotations

import functools
import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
OVERLAYS = ("dev", "prod")
# The oldest Kubernetes the README supports, and a newer one.
KUBERNETES_VERSIONS = ("1.30", "1.33")
IMAGE = "ccplane"
SECRET_NAME = "ccplane-secrets"
PART_OF = {"app.kubernetes.io/name": "ccplane"}

# The values that must only ever come from the Secret.
SECRET_ENV = {
    "CCPLANE_DATABASE_URL",
    "CCPLANE_INTERNAL_TOKEN",
    "CCPLANE_OBJECT_STORE_URL",
    "CCPLANE_MODEL_API_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
}
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")
ANY = ipaddress.ip_network("0.0.0.0/0")

Manifest = dict[str, Any]


def _kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        pytest.fail(
            "kubectl is not installed: these tests build deploy/k8s/overlays/* with `kubectl kustomize` "
            "(kubectl >= 1.27 embeds kustomize v5); install it (e.g. the Kubernetes apt repository's "
            "kubectl package) and run them again",
            pytrace=False,
        )
    return path


@functools.cache
def _build(overlay: str) -> tuple[Manifest, ...]:
    directory = K8S / "overlays" / overlay
    done = subprocess.run(
        [_kubectl(), "kustomize", str(directory)], capture_output=True, text=True, timeout=120, check=False
    )
    if done.returncode != 0:
        pytest.fail(f"kubectl kustomize {directory} failed:\n{done.stderr}", pytrace=False)
    documents = tuple(d for d in yaml.safe_load_all(done.stdout) if d)
    assert documents, f"kubectl kustomize {directory} printed no objects"
    for document in documents:
        assert isinstance(document, dict), document
    return documents


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def objects(overlay: str) -> tuple[Manifest, ...]:
    return _build(overlay)


def _of(objects: tuple[Manifest, ...], kind: str) -> list[Manifest]:
    return [o for o in objects if o["kind"] == kind]


def _one(objects: tuple[Manifest, ...], kind: str, name: str) -> Manifest:
    found = [o for o in _of(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _component(name: str) -> dict[str, str]:
    return {**PART_OF, "app.kubernetes.io/component": name}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels only, as used here) matches ``labels``."""
    assert set(selector) <= {"matchLabels"}, f"unexpected selector form {selector}"
    return all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items())


def _pod_templates(objects: tuple[Manifest, ...]) -> Iterator[tuple[str, Manifest]]:
    for o in objects:
        if o["kind"] in ("Deployment", "Job"):
            yield f"{o['kind']}/{o['metadata']['name']}", o["spec"]["template"]


def _containers(pod: Manifest) -> list[Manifest]:
    spec = pod["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _argv(container: Manifest) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _flag(argv: list[str], name: str) -> str:
    assert name in argv, f"{name} missing from {argv}"
    return argv[argv.index(name) + 1]


def _env(container: Manifest) -> dict[str, Manifest]:
    return {e["name"]: e for e in container.get("env", [])}


def _executor(objects: tuple[Manifest, ...]) -> tuple[Manifest, Manifest]:
    deployment = _one(objects, "Deployment", "executor")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return deployment, container


# --- the build and the schemas -------------------------------------------------------------------


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_object_validates_against_the_kubernetes_schemas(overlay: str, version: str) -> None:
    problems = []
    for document in _build(overlay):
        where = f"{document.get('kind')}/{document.get('metadata', {}).get('name')}"
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{where}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{where}: {exc.message}")
    assert not problems, f"overlays/{overlay} against Kubernetes {version}:\n" + "\n".join(problems)


def test_the_overlay_holds_every_component(objects: tuple[Manifest, ...], overlay: str) -> None:
    names = {(o["kind"], o["metadata"]["name"]) for o in objects}
    for name in ("control-plane", "executor-manager", "gateway", "executor"):
        assert ("Deployment", name) in names
    for name in ("control-plane", "executor-manager", "gateway"):
        assert ("Service", name) in names
    assert ("Job", "ccplane-migrate") in names
    assert ("HorizontalPodAutoscaler", "executor") in names
    namespace = {"dev": "ccplane-dev", "prod": "ccplane"}[overlay]
    assert ("Namespace", namespace) in names
    for o in objects:
        if o["kind"] != "Namespace":
            assert o["metadata"].get("namespace") == namespace, o["metadata"]
            assert o["metadata"]["labels"]["app.kubernetes.io/part-of"] == "ccplane", o["metadata"]


def test_selectors_and_references_resolve(objects: tuple[Manifest, ...]) -> None:
    config_maps = {o["metadata"]["name"] for o in _of(objects, "ConfigMap")}
    for deployment in _of(objects, "Deployment"):
        template_labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert _selects(deployment["spec"]["selector"], template_labels), deployment["metadata"]["name"]
    for where, pod in _pod_templates(objects):
        assert pod["spec"]["serviceAccountName"] == "ccplane", where
        assert pod["spec"]["automountServiceAccountToken"] is False, where
        for container in _containers(pod):
            for source in container.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, where
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("configMapKeyRef")
                if ref:
                    assert ref["name"] in config_maps, where
    for service in _of(objects, "Service"):
        name = service["metadata"]["name"]
        pod = _one(objects, "Deployment", name)["spec"]["template"]
        assert _selects({"matchLabels": service["spec"]["selector"]}, pod["metadata"]["labels"]), name
        port_names = {p["name"] for c in pod["spec"]["containers"] for p in c.get("ports", [])}
        for port in service["spec"]["ports"]:
            assert port["targetPort"] in port_names, (name, port)


# --- the promises ---------------------------------------------------------------------------------


def test_the_control_plane_runs_at_least_two_replicas(objects: tuple[Manifest, ...], overlay: str) -> None:
    deployment = _one(objects, "Deployment", "control-plane")
    assert deployment["spec"]["replicas"] >= 2
    if overlay == "prod":
        affinity = deployment["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
        (required,) = affinity["requiredDuringSchedulingIgnoredDuringExecution"]
        assert required["topologyKey"] == "kubernetes.io/hostname"
        assert _selects(required["labelSelector"], _component("control-plane"))
        # A surge pod could not be scheduled beside the others: replace one at a time.
        assert deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"] == 0


def test_every_deployment_has_readiness_and_liveness_probes(objects: tuple[Manifest, ...]) -> None:
    for deployment in _of(objects, "Deployment"):
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            where = f"{deployment['metadata']['name']}/{container['name']}"
            ports = {p["containerPort"] for p in container["ports"]} | {p["name"] for p in container["ports"]}
            for kind in ("readinessProbe", "livenessProbe"):
                probe = container.get(kind)
                assert probe, f"{where} has no {kind}"
                handler = probe.get("grpc") or probe.get("httpGet")
                assert handler, f"{where} {kind} is neither grpc nor httpGet"
                assert handler["port"] in ports, f"{where} {kind} probes a port it does not serve"


def test_grpc_services_are_probed_through_grpc_health(objects: tuple[Manifest, ...]) -> None:
    grpc_ports = {"control-plane": 50051, "executor-manager": 50052, "executor": 50060}
    for name, port in grpc_ports.items():
        (container,) = _one(objects, "Deployment", name)["spec"]["template"]["spec"]["containers"]
        for kind in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert container[kind]["grpc"]["port"] == port, (name, kind)
    (gateway,) = _one(objects, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/healthz"


def test_every_container_runs_as_non_root_without_privilege_escalation(
    objects: tuple[Manifest, ...],
) -> None:
    for where, pod in _pod_templates(objects):
        pod_context = pod["spec"]["securityContext"]
        assert pod_context["runAsNonRoot"] is True, where
        assert pod_context["runAsUser"] == 10001, where
        assert pod_context["seccompProfile"]["type"] == "RuntimeDefault", where
        assert not pod["spec"].get("hostNetwork") and not pod["spec"].get("hostPID"), where
        for container in _containers(pod):
            context = container["securityContext"]
            assert context.get("runAsUser", 10001) != 0, where
            assert context.get("runAsNonRoot", True) is True, where
            assert context["allowPrivilegeEscalation"] is False, where
            assert context.get("privileged", False) is False, where
            assert context["readOnlyRootFilesystem"] is True, where
            assert context["capabilities"]["drop"] == ["ALL"], where
            assert not context["capabilities"].get("add"), where


def test_every_container_runs_the_ccplane_image(objects: tuple[Manifest, ...], overlay: str) -> None:
    images = {c["image"] for _, pod in _pod_templates(objects) for c in _containers(pod)}
    assert len(images) == 1, f"one image for every service, found {images}"
    (image,) = images
    repository = image.split("@")[0].rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
    assert repository.rsplit("/", 1)[-1] == IMAGE, image
    if overlay == "prod":
        assert "/" in repository, f"prod pulls from a registry: {image}"
        assert not image.endswith(":latest") and ("@" in image or ":" in image.rsplit("/", 1)[-1]), image


def test_a_job_runs_the_migrations(objects: tuple[Manifest, ...]) -> None:
    jobs = [
        j
        for j in _of(objects, "Job")
        if any("migrate" in _argv(c) for c in j["spec"]["template"]["spec"]["containers"])
    ]
    assert len(jobs) == 1, "exactly one Job runs `ccplane migrate`"
    (job,) = jobs
    assert job["metadata"]["name"] == "ccplane-migrate"
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert _argv(container)[:1] == ["migrate"], "the image's entrypoint is `ccplane`"
    ref = _env(container)["CCPLANE_DATABASE_URL"]["valueFrom"]["secretKeyRef"]
    assert ref == {"name": SECRET_NAME, "key": "CCPLANE_DATABASE_URL"}


def test_services_run_their_command_on_the_pod_network(objects: tuple[Manifest, ...]) -> None:
    config = {k: v for cm in _of(objects, "ConfigMap") for k, v in cm["data"].items()}
    # Bound on every interface: probes and peers come in on the pod IP.
    assert config["CCPLANE_GRPC_HOST"] == "0.0.0.0"
    assert config["CCPLANE_METRICS_HOST"] == "0.0.0.0"
    assert config["CCPLANE_GATEWAY_HOST"] == "0.0.0.0"
    assert config["CCPLANE_ADDRESS"] == "control-plane:50051"
    assert config["CCPLANE_EXECUTOR_MANAGER_ADDR"] == "executor-manager:50052"
    assert not SECRET_ENV & set(config), "credentials belong in the Secret, not the ConfigMap"
    commands = {
        d["metadata"]["name"]: _argv(d["spec"]["template"]["spec"]["containers"][0])[0]
        for d in _of(objects, "Deployment")
    }
    assert commands == {n: n for n in ("control-plane", "executor-manager", "gateway", "executor")}
    (manager,) = _one(objects, "Deployment", "executor-manager")["spec"]["template"]["spec"]["containers"]
    assert _flag(_argv(manager), "--backend") == "external"
    assert _flag(_argv(manager), "--min-executors") == "0"


def test_executors_register_a_reachable_address_and_drain_in_time(objects: tuple[Manifest, ...]) -> None:
    deployment, container = _executor(objects)
    argv = _argv(container)
    assert _flag(argv, "--host") == "0.0.0.0"
    assert _flag(argv, "--manager") == "executor-manager:50052"
    assert _flag(argv, "--backend") == "external"
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert int(_flag(argv, "--port")) == ports["grpc"]
    assert int(_flag(argv, "--metrics-port")) == ports["metrics"]
    env = _env(container)
    advertise = env["CCPLANE_EXECUTOR_ADVERTISE_HOST"]["valueFrom"]["fieldRef"]["fieldPath"]
    assert advertise == "status.podIP"
    # $(POD_NAME) expands only when POD_NAME comes earlier in the list.
    order = list(env)
    assert order.index("POD_NAME") < order.index("CCPLANE_EXECUTOR_LABELS")
    # Unprivileged pods cannot confine sessions (README "Session isolation").
    assert env["CCPLANE_SESSION_ISOLATION"]["value"] == "off"
    grace = float(env["CCPLANE_SHUTDOWN_GRACE"]["value"])
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] > grace
    # Sized by the autoscaler, which a `replicas` field would fight on every apply.
    assert "replicas" not in deployment["spec"]
    resources = container["resources"]
    for key in ("cpu", "memory"):
        assert key in resources["requests"] and key in resources["limits"], key
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    data_dir = next(
        cm["data"]["CCPLANE_DATA_DIR"] for cm in _of(objects, "ConfigMap") if "CCPLANE_DATA_DIR" in cm["data"]
    )
    assert "emptyDir" in volumes[mounts[data_dir]]


def test_disruption_budgets_cover_the_control_plane_and_the_executors(objects: tuple[Manifest, ...]) -> None:
    budgets = _of(objects, "PodDisruptionBudget")

    def budget_for(component: str) -> Manifest:
        (found,) = [b for b in budgets if _selects(b["spec"]["selector"], _component(component))]
        return found

    assert budget_for("control-plane")["spec"]["minAvailable"] >= 1
    replicas = _one(objects, "Deployment", "control-plane")["spec"]["replicas"]
    assert budget_for("control-plane")["spec"]["minAvailable"] < replicas, "a node drain must be possible"
    executor = budget_for("executor")["spec"]
    assert executor.get("maxUnavailable") == 1 or executor.get("minAvailable", 0) >= 1


def _executor_policies(objects: tuple[Manifest, ...]) -> list[Manifest]:
    labels = _executor(objects)[0]["spec"]["template"]["metadata"]["labels"]
    return [p for p in _of(objects, "NetworkPolicy") if _selects(p["spec"]["podSelector"], labels)]


def _peer_kind(peer: Manifest) -> str:
    """What a NetworkPolicy peer is, for the executors' egress."""
    if "ipBlock" in peer:
        assert set(peer) == {"ipBlock"}, peer
        return "ipBlock"
    if "namespaceSelector" in peer:
        assert peer["namespaceSelector"] == {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}}
        assert peer["podSelector"] == {"matchLabels": {"k8s-app": "kube-dns"}}, "only DNS, not kube-system"
        return "dns"
    labels = peer["podSelector"]["matchLabels"]
    assert set(peer) == {"podSelector"}, peer
    for component in ("control-plane", "executor-manager"):
        if labels == _component(component):
            return component
    raise AssertionError(f"executors may not reach {peer}")


def test_executors_egress_reaches_only_the_listed_peers(objects: tuple[Manifest, ...], overlay: str) -> None:
    policies = _executor_policies(objects)
    egress_policies = [p for p in policies if "Egress" in p["spec"]["policyTypes"]]
    assert egress_policies, "no NetworkPolicy limits the executors' egress"
    expected_ports = {"dns": {53}, "control-plane": {50051}, "executor-manager": {50052}}
    reached: dict[str, set[str]] = {}
    for policy in egress_policies:
        name = policy["metadata"]["name"]
        for rule in policy["spec"].get("egress", []):
            assert rule.get("to"), f"{name}: a rule without `to` allows every destination"
            assert rule.get("ports"), f"{name}: a rule without `ports` allows every port"
            ports = {p["port"] for p in rule["ports"]}
            for peer in rule["to"]:
                kind = _peer_kind(peer)
                reached.setdefault(kind, set()).add(name)
                if kind in expected_ports:
                    assert ports == expected_ports[kind], (name, kind, ports)
                    continue
                # External peers: the model endpoint and the object store, a policy each.
                assert name in ("executor-egress-model", "executor-egress-object-store"), name
                network = ipaddress.ip_network(peer["ipBlock"]["cidr"])
                if network == ANY:
                    assert overlay == "dev", f"{name}: prod executors may not reach every address"
                    excepted = {ipaddress.ip_network(c) for c in peer["ipBlock"].get("except", [])}
                    assert {ipaddress.ip_network(c) for c in PRIVATE_RANGES} <= excepted, name
                    assert ports == {443}, name
                elif overlay == "prod":
                    assert network.prefixlen >= 16, f"{name}: {network} is wider than an endpoint"
    assert set(reached) == {"dns", "control-plane", "executor-manager", "ipBlock"}, reached
    assert reached["ipBlock"] == {"executor-egress-model", "executor-egress-object-store"}


def test_executors_accept_only_the_control_plane_the_manager_and_prometheus(
    objects: tuple[Manifest, ...],
) -> None:
    policies = _executor_policies(objects)
    assert any(p["metadata"]["name"] == "default-deny-ingress" for p in policies)
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            assert rule.get("from") and rule.get("ports"), policy["metadata"]["name"]
            for peer in rule["from"]:
                if "namespaceSelector" in peer:
                    assert peer["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "prometheus"}
                    assert {p["port"] for p in rule["ports"]} == {9466}
                else:
                    assert peer["podSelector"]["matchLabels"] in (
                        _component("control-plane"),
                        _component("executor-manager"),
                    ), peer
                    assert {p["port"] for p in rule["ports"]} == {50060}


def test_an_autoscaler_sizes_the_executors_on_slot_demand(objects: tuple[Manifest, ...]) -> None:
    autoscalers = [
        h
        for h in _of(objects, "HorizontalPodAutoscaler")
        if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "executor"}
    ]
    assert len(autoscalers) == 1, "one HPA targets the executor Deployment"
    (hpa,) = autoscalers
    assert 1 <= hpa["spec"]["minReplicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "External"
    name = metric["external"]["metric"]["name"]
    # The adapter rule serves that metric from the platform's gauges.
    values = yaml.safe_load((K8S / "prometheus-adapter" / "values.yaml").read_text())
    (rule,) = [r for r in values["rules"]["external"] if r["name"]["as"] == name]
    assert "ccplane_executor_slots" in rule["metricsQuery"]
    assert "ccplane_run_queue_depth" in rule["metricsQuery"]
    # Fewer sessions per executor than its slots, so it scales before all are busy.
    slots = int(_flag(_argv(_executor(objects)[1]), "--slots"))
    assert 0 < float(metric["external"]["target"]["averageValue"]) <= slots
    assert hpa["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] >= 300


def test_secrets_are_referenced_never_emitted(objects: tuple[Manifest, ...]) -> None:
    assert not _of(objects, "Secret"), "a Secret in the build output: credentials are only referenced"
    documented = (K8S / "overlays" / "dev" / "secrets.env.example").read_text()
    readme = (K8S / "README.md").read_text()
    referenced = set()
    for where, pod in _pod_templates(objects):
        for container in _containers(pod):
            assert not container.get("envFrom") or all("secretRef" not in s for s in container["envFrom"])
            for variable in container.get("env", []):
                ref = variable.get("valueFrom", {}).get("secretKeyRef")
                if variable["name"] in SECRET_ENV:
                    assert ref, f"{where}: {variable['name']} must come from the Secret"
                if ref:
                    assert ref["name"] == SECRET_NAME, where
                    referenced.add(ref["key"])
        for volume in pod["spec"].get("volumes", []):
            assert "secret" not in volume, where
    assert {"CCPLANE_DATABASE_URL", "CCPLANE_INTERNAL_TOKEN"} <= referenced
    for key in referenced:
        assert f"\n{key}=" in documented, f"{key} is not in overlays/dev/secrets.env.example"
        assert f"`{key}`" in readme, f"{key} is not in deploy/k8s/README.md"
    # What a gateway or an executor does not need, it does not get.
    (gateway,) = _one(objects, "Deployment", "gateway")["spec"]["template"]["spec"]["containers"]
    assert not any("secretKeyRef" in e.get("valueFrom", {}) for e in gateway.get("env", []))
    assert "CCPLANE_DATABASE_URL" not in _env(_executor(objects)[1])


def test_the_dev_secrets_file_is_ignored_and_unused() -> None:
    dev = K8S / "overlays" / "dev"
    assert "secrets.env" in (dev / ".gitignore").read_text().split()
    kustomization = yaml.safe_load((dev / "kustomization.yaml").read_text())
    assert "secretGenerator" not in kustomization
