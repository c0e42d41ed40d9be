"""release/docker.py: the pure parsers, host-port checks and probes without Docker; the engine edge with it."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Iterator

import pytest

from release import docker
from release.errors import HarnessError

PROC_NET_TCP = """\
  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:4E20 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
   1: 0100007F:4E20 0100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 4243 1 0000000000000000 20 4 30 10 -1
   2: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 77 1 0000000000000000 100 0 0 10 0
"""


def test_parse_proc_net_tcp_keeps_listening_sockets_only():
    assert docker.parse_proc_net_tcp(PROC_NET_TCP) == [(20000, 4242), (8080, 77)]


def test_parse_ps_publishers_reads_a_list_and_json_lines():
    container = {
        "Service": "api",
        "Publishers": [
            {"URL": "127.0.0.1", "TargetPort": 8000, "PublishedPort": 32768, "Protocol": "tcp"},
            {"URL": "", "TargetPort": 9000, "PublishedPort": 0, "Protocol": "tcp"},
        ],
    }
    expected = [{"service": "api", "target": 8000, "published": 32768, "host": "127.0.0.1", "protocol": "tcp"}]
    assert docker.parse_ps_publishers(json.dumps([container])) == expected
    assert docker.parse_ps_publishers(json.dumps(container) + "\n") == expected
    assert docker.parse_ps_publishers("") == []


def test_parse_sse_or_json():
    answer = {"jsonrpc": "2.0", "id": 1, "result": {}}
    assert docker.parse_sse_or_json(json.dumps(answer), "application/json") == answer
    assert docker.parse_sse_or_json(f"event: message\ndata: {json.dumps(answer)}\n\n", "text/event-stream") == answer
    with pytest.raises(ValueError):
        docker.parse_sse_or_json("event: ping\n", "text/event-stream")


def test_a_listening_port_is_taken_and_its_owner_is_named():
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        assert not docker.port_is_free("127.0.0.1", port)
        assert not docker.port_is_free("", port)  # 0.0.0.0 overlaps 127.0.0.1
        owners = docker.port_owners(port)
        assert any("pid" in owner and "python" in owner for owner in owners), owners
    assert docker.port_is_free("127.0.0.1", port)


class _Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def _send(self, status: int, body: dict, content_type: str = "application/json") -> None:
        data = json.dumps(body).encode()
        if content_type == "text/event-stream":
            data = b"event: message\ndata: " + data + b"\n\n"
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200 if self.path == "/health" else 404, {"status": "ok"})

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if self.path == "/mcp" and request.get("method") == "initialize":
            self._send(200, {"jsonrpc": "2.0", "id": request["id"], "result": {"serverInfo": {"name": "x"}}})
        elif self.path == "/sse":
            self._send(200, {"jsonrpc": "2.0", "id": request["id"], "result": {}}, "text/event-stream")
        else:
            self._send(200, {"jsonrpc": "2.0", "id": request.get("id"), "error": {"code": -32601}})


@pytest.fixture
def http_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_probes_health_and_mcp(http_server: str):
    assert docker.probe_once("health", f"{http_server}/health") is None
    assert docker.probe_once("health", f"{http_server}/nope") == "HTTP 404"
    assert docker.probe_once("mcp", f"{http_server}/mcp") is None
    assert docker.probe_once("mcp", f"{http_server}/sse") is None
    assert "without a result" in docker.probe_once("mcp", f"{http_server}/other")


def test_wait_http_gives_the_last_reason_after_the_timeout():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    reason = docker.wait_http("health", f"http://127.0.0.1:{port}/health", timeout=0.3, interval=0.1)
    assert reason and "refused" in reason.lower()


def test_no_engine_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    with pytest.raises(HarnessError) as caught:
        docker.engine()
    assert "no Docker engine answers" in caught.value.render()
    assert "make bootstrap" in caught.value.render()


def test_push_image_refuses_a_reference_without_tag():
    with pytest.raises(ValueError, match="explicit tag"):
        docker.push_image(object(), "127.0.0.1:5000/kamiwazaai/x")


# ----------------------------------------------------------------------------- real engine


def test_build_failure_carries_the_build_log(docker_client, tmp_path: Path):
    (tmp_path / "Dockerfile").write_text("FROM kamiwaza-base/python:bookworm\nRUN echo marker-before-failure && exit 3\n")
    with pytest.raises(docker.BuildFailed) as caught:
        docker.build_image(docker_client, tmp_path, dockerfile="Dockerfile", tags=["kamiwazaai/never-tagged:0.0.0-dev"], labels={}, buildargs={})
    assert "marker-before-failure" in "\n".join(caught.value.log)
    assert "3" in caught.value.message
    assert docker.local_image(docker_client, "kamiwazaai/never-tagged:0.0.0-dev") is None


def test_local_image_of_a_base_image(docker_client):
    image = docker.local_image(docker_client, "kamiwaza-base/python:bookworm")
    assert image is not None and image.id.startswith("sha256:") and image.size > 0


@pytest.mark.docker
def test_compose_config_reads_a_project(tmp_path: Path):
    if docker.shutil.which("docker") is None:
        pytest.skip("no docker CLI")
    (tmp_path / "docker-compose.yml").write_text('services:\n  web:\n    image: "x:1"\n    ports: ["${WEB_PORT:-18999}:80"]\n')
    model = docker.Compose("kzt-config-test", [tmp_path / "docker-compose.yml"], tmp_path, {"PATH": docker.os.environ["PATH"], "WEB_PORT": "18998"}).config()
    assert model["services"]["web"]["ports"][0]["published"] == "18998"


# ----------------------------------------------------------------------------- the spec's dev loop: docker-compose up


def test_docker_compose_up_on_a_taken_port_exits_non_zero(docker_client, tmp_path: Path):
    """`cd extensions/apps/x && docker-compose up` must fail when its port is taken (the bootstrap
    installs the real Compose v2 binary as `docker-compose`, not a wrapper that exits 0)."""
    import os
    import shutil
    import subprocess
    import uuid

    from tests.plugins.docker_engine import BASE_IMAGES
    from tests.plugins.infra import unavailable

    if shutil.which("docker-compose") is None:
        unavailable("docker-compose on the PATH", "run `make bootstrap` (installs Compose v2 as docker-compose)")
    if docker.local_image(docker_client, BASE_IMAGES[0]) is None:
        unavailable(f"the base image {BASE_IMAGES[0]}", "run `make base-images`")
    (tmp_path / "docker-compose.yml").write_text(
        "services:\n"
        "  web:\n"
        f"    image: {BASE_IMAGES[0]}\n"
        "    pull_policy: never\n"
        '    command: ["python3", "-m", "http.server", "8000"]\n'
        '    ports: ["${WEB_PORT}:8000"]\n'
    )
    project = f"kzt-taken-{uuid.uuid4().hex[:8]}"
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        env = {**os.environ, "WEB_PORT": str(holder.getsockname()[1]), "COMPOSE_PROJECT_NAME": project}
        try:
            up = subprocess.run(["docker-compose", "up", "--detach"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
        finally:
            subprocess.run(["docker-compose", "down", "--volumes", "--timeout", "1"], cwd=tmp_path, env=env, capture_output=True, timeout=180)
    assert up.returncode != 0, up.stdout + up.stderr
    assert "address already in use" in (up.stdout + up.stderr).lower() or "port is already allocated" in (up.stdout + up.stderr).lower()
