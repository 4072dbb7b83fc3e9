"""Real Prometheus and Alertmanager (Debian's binaries) on loopback ports, and
a webhook receiver standing for the pager Alertmanager notifies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules" / "ccplane.yml"
ALERTMANAGER_CONFIG = ROOT / "deploy" / "alertmanager" / "alertmanager.yml"
READY_S = 60.0


def binary(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError(f"none of {names} is installed: run `make system` (tools/setup-system.sh)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Webhook:
    """Collects what Alertmanager posts, by path (one path per receiver)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                received.append((self.path, json.loads(body or b"{}")))
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def alerts(self, path: str) -> list[dict[str, Any]]:
        return [alert for got, body in self.received if got == path for alert in body.get("alerts", [])]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Process:
    """A server process whose output goes to a log file; ``/-/ready`` says when it serves."""

    def __init__(self, args: list[str], log: Path, url: str) -> None:
        self.url = url
        self._log = log.open("wb")
        self._proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT)
        self.log_path = log

    async def ready(self) -> None:
        async with httpx.AsyncClient() as client, asyncio.timeout(READY_S):
            while True:
                assert self._proc.poll() is None, f"{self.log_path.read_text()[-3000:]}"
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(f"{self.url}/-/ready")).status_code == 200:
                        return
                await asyncio.sleep(0.2)

    def stop(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._log.close()


def alertmanager_config(webhook: Webhook) -> dict[str, Any]:
    """The deployment's Alertmanager config, its receivers pointed at ``webhook``
    and its waits shortened to seconds."""
    config: dict[str, Any] = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url + "/" + receiver["name"]
    routes = [config["route"], *config["route"].get("routes", [])]
    for route in routes:
        route.update(group_wait="1s", group_interval="1s", repeat_interval="1h")
    return config


@contextlib.contextmanager
def alertmanager(work: Path, webhook: Webhook) -> Iterator[Process]:
    work.mkdir(parents=True, exist_ok=True)
    config = work / "alertmanager.yml"
    config.write_text(yaml.safe_dump(alertmanager_config(webhook)))
    port = free_port()
    proc = Process(
        [
            binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={config}",
            f"--storage.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        work / "alertmanager.log",
        f"http://127.0.0.1:{port}",
    )
    try:
        yield proc
    finally:
        proc.stop()


def quickened_rules(lower: dict[str, str]) -> dict[str, Any]:
    """The deployment's rules; each alert in ``lower`` gets that threshold and
    fires without a ``for`` wait (the rule's expression otherwise unchanged)."""
    rules: dict[str, Any] = yaml.safe_load(RULES.read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") in lower:
                head, _, _ = rule["expr"].rstrip().rpartition(" ")
                rule["expr"] = f"{head} {lower[rule['alert']]}"
                rule["for"] = "0s"
    return rules


@contextlib.contextmanager
def prometheus(
    work: Path, scrape: dict[str, Any], alertmanager_url: str, rules: dict[str, Any]
) -> Iterator[Process]:
    """Prometheus scraping ``scrape`` (job name: static targets, or an SD URL
    under the key ``sd``) every second, evaluating ``rules``, alerting to
    ``alertmanager_url``."""
    work.mkdir(parents=True, exist_ok=True)
    (work / "rules.yml").write_text(yaml.safe_dump(rules))
    jobs = []
    for job, target in scrape.items():
        entry: dict[str, Any] = {"job_name": job, "scrape_interval": "1s"}
        if isinstance(target, dict):
            entry["http_sd_configs"] = [{"url": target["sd"], "refresh_interval": "1s"}]
        else:
            entry["static_configs"] = [{"targets": [target]}]
        jobs.append(entry)
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(work / "rules.yml")],
        "alerting": {
            "alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.removeprefix("http://")]}]}]
        },
        "scrape_configs": jobs,
    }
    (work / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    proc = Process(
        [
            binary("prometheus"),
            f"--config.file={work / 'prometheus.yml'}",
            f"--storage.tsdb.path={work / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        work / "prometheus.log",
        f"http://127.0.0.1:{port}",
    )
    try:
        yield proc
    finally:
        proc.stop()
