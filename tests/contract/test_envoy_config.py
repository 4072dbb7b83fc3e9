"""deploy/envoy/envoy.yaml against the descriptor set and the gateway: the two front doors agree.

No Envoy binary runs here, so the configuration is checked structurally: the
transcoder serves exactly the services that have HTTP rules (and that the
control plane serves publicly), with the gateway's print and validation
options, SSE framing, status conversion, and no timeouts on event streams;
uploads (client streaming, which Envoy cannot transcode) go to the gateway;
the clusters are services of deploy/docker-compose.yml, on their ports.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.api import annotations_pb2
from google.protobuf import descriptor_pb2

from control_plane.app import PUBLIC_SERVICES
from gateway import transcode
from gateway.transcoder import DEFAULT_MAX_BODY_BYTES, DEFAULT_UNARY_TIMEOUT_S
from gateway.upload import UPLOAD_PATH

ROOT = Path(__file__).resolve().parents[2]
ENVOY_YAML = ROOT / "deploy" / "envoy" / "envoy.yaml"
COMPOSE_YAML = ROOT / "deploy" / "docker-compose.yml"
TRANSCODER = "envoy.filters.http.grpc_json_transcoder"


@pytest.fixture(scope="module")
def config() -> dict[str, Any]:
    document = yaml.safe_load(ENVOY_YAML.read_text())
    assert isinstance(document, dict)
    return document


def _connection_manager(config: dict[str, Any]) -> dict[str, Any]:
    (listener,) = config["static_resources"]["listeners"]
    (chain,) = listener["filter_chains"]
    (hcm,) = chain["filters"]
    assert hcm["name"] == "envoy.filters.network.http_connection_manager"
    return dict(hcm["typed_config"])


def _transcoder(config: dict[str, Any]) -> dict[str, Any]:
    filters = _connection_manager(config)["http_filters"]
    assert [f["name"] for f in filters] == [TRANSCODER, "envoy.filters.http.router"]
    return dict(filters[0]["typed_config"])


def _methods() -> list[tuple[str, descriptor_pb2.MethodDescriptorProto]]:
    fds = descriptor_pb2.FileDescriptorSet.FromString((ROOT / "gen" / "ccplane.binpb").read_bytes())
    return [
        (f"{f.package}.{s.name}", m)
        for f in fds.file
        if f.package == "ccplane.v1"
        for s in f.service
        for m in s.method
        if m.options.HasExtension(annotations_pb2.http)
    ]


def test_listener_port(config: dict[str, Any]) -> None:
    (listener,) = config["static_resources"]["listeners"]
    assert listener["address"]["socket_address"]["port_value"] == 8080


def test_transcoder_serves_every_annotated_service(config: dict[str, Any]) -> None:
    annotated = sorted({service for service, _ in _methods()})
    transcoder = _transcoder(config)
    assert sorted(transcoder["services"]) == annotated
    assert sorted(PUBLIC_SERVICES) == annotated
    assert transcoder["proto_descriptor"] == "/etc/envoy/ccplane.binpb"


def test_transcoder_options_match_the_gateway(config: dict[str, Any]) -> None:
    transcoder = _transcoder(config)
    assert transcoder["print_options"] == transcode.PRINT_OPTIONS
    assert transcoder["print_options"]["stream_sse_style_delimited"] is True
    assert transcoder["request_validation_options"] == transcode.REQUEST_VALIDATION
    assert transcoder["request_validation_options"]["reject_unknown_method"] is True
    assert transcoder["request_validation_options"]["reject_unknown_query_parameters"] is True
    assert transcoder["convert_grpc_status"] is True
    assert transcoder["query_param_unescape_plus"] is transcode.QUERY_PARAM_UNESCAPE_PLUS
    assert transcoder["max_request_body_size"] == DEFAULT_MAX_BODY_BYTES


def _route_for(routes: list[dict[str, Any]], grpc_path: str) -> dict[str, Any]:
    for route in routes:
        match = route["match"]
        if match.get("path") == grpc_path or grpc_path.startswith(match.get("prefix", "\0")):
            return dict(route["route"])
    raise AssertionError(f"no route for {grpc_path}")


def test_every_rpc_is_routed_and_streams_have_no_timeout(config: dict[str, Any]) -> None:
    (host,) = _connection_manager(config)["route_config"]["virtual_hosts"]
    routes = host["routes"]
    for service, method in _methods():
        route = _route_for(routes, f"/{service}/{method.name}")
        assert route["cluster"] == "control_plane"
        if method.server_streaming:
            assert route["timeout"] == "0s", method.name
            assert route["idle_timeout"] == "0s", method.name
        else:
            assert route["timeout"] == f"{DEFAULT_UNARY_TIMEOUT_S:g}s", method.name


def _clusters(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {cluster["name"]: cluster for cluster in config["static_resources"]["clusters"]}


def _address(cluster: dict[str, Any]) -> tuple[str, int]:
    (endpoints,) = cluster["load_assignment"]["endpoints"]
    (endpoint,) = endpoints["lb_endpoints"]
    address = endpoint["endpoint"]["address"]["socket_address"]
    return address["address"], address["port_value"]


def test_control_plane_cluster_speaks_http2(config: dict[str, Any]) -> None:
    cluster = _clusters(config)["control_plane"]
    options = cluster["typed_extension_protocol_options"][
        "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
    ]
    assert "http2_protocol_options" in options["explicit_http_config"]
    # STRICT_DNS: every replica the service name resolves to.
    assert cluster["type"] == "STRICT_DNS"
    assert "grpc_health_check" in cluster["health_checks"][0]
    assert _address(cluster) == ("control-plane", 50051)


def test_uploads_go_to_the_gateway_untranscoded(config: dict[str, Any]) -> None:
    """Envoy cannot transcode client streaming: the upload route is the
    gateway's, matched on the incoming path, with the transcoder off."""
    (host,) = _connection_manager(config)["route_config"]["virtual_hosts"]
    first = host["routes"][0]
    pattern = re.compile(first["match"]["safe_regex"]["regex"])
    assert pattern.fullmatch(UPLOAD_PATH.replace("{workspace_id}", "ws_01J0000000000000000000000"))
    assert not pattern.fullmatch("/api/workspaces/ws_1/files")
    assert not pattern.fullmatch("/ccplane.v1.WorkspaceService/UploadFile")
    assert first["route"]["cluster"] == "gateway"
    assert first["route"]["timeout"] == "0s"
    per_route = first["typed_per_filter_config"][TRANSCODER]
    assert per_route["@type"].endswith("grpc_json_transcoder.v3.GrpcJsonTranscoder")
    # No services: the transcoder is disabled on this route.
    assert not per_route.get("services")
    gateway = _clusters(config)["gateway"]
    assert "typed_extension_protocol_options" not in gateway  # HTTP/1.1
    assert gateway["health_checks"][0]["http_health_check"]["path"] == "/healthz"


def test_clusters_are_the_compose_services(config: dict[str, Any]) -> None:
    """Each cluster dials a service of deploy/docker-compose.yml on the port it listens on."""
    services = yaml.safe_load(COMPOSE_YAML.read_text())["services"]
    envoy = services["envoy"]
    assert {"control-plane", "gateway"} <= set(envoy["depends_on"])
    assert "./envoy/envoy.yaml:/etc/envoy/envoy.yaml:ro" in envoy["volumes"]
    assert "../gen/ccplane.binpb:/etc/envoy/ccplane.binpb:ro" in envoy["volumes"]
    listening = {
        "control-plane": str(services["control-plane"]["environment"]["CCPLANE_GRPC_PORT"]),
        "gateway": next(
            a.split("=", 1)[1] for a in services["gateway"]["command"] if a.startswith("--port=")
        ),
    }
    addresses = {name: _address(cluster) for name, cluster in _clusters(config).items()}
    assert addresses == {"control_plane": ("control-plane", 50051), "gateway": ("gateway", 3001)}
    for host, port in addresses.values():
        assert host in services
        assert listening[host] == str(port)
