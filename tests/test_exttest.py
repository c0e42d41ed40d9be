"""release/exttest.py and `make test`/`test-all`: pure planning, then the samples on the real engine."""

from __future__ import annotations

import json
import re
import socket
import subprocess
from pathlib import Path

import pytest

from release import exttest
from release.errors import HarnessError
from release.extensions import Extension

MODEL = {
    "services": {
        "backend": {
            "build": {"context": "/x/backend"},
            "container_name": "kaizen-backend",
            "ports": [{"host_ip": "127.0.0.1", "published": "18100", "target": 8000, "protocol": "tcp", "mode": "ingress"}],
        },
        "frontend": {"build": {"context": "/x/frontend"}, "ports": [{"published": "18101-18102", "target": 8080, "protocol": "tcp"}]},
        "metrics": {"image": "prom:1", "ports": [{"target": 9100, "protocol": "udp", "published": "9100"}, {"target": 9090}]},
        "redis": {"image": "redis:7-bookworm"},
    }
}


def test_endpoints_expand_ranges_and_skip_udp():
    assert exttest.endpoints(MODEL) == [
        exttest.Endpoint("backend", 8000, "127.0.0.1", 18100),
        exttest.Endpoint("frontend", 8080, "", 18101),
        exttest.Endpoint("frontend", 8080, "", 18102),
        exttest.Endpoint("metrics", 9090, "", None),
    ]
    assert exttest.host_ports(exttest.endpoints(MODEL)) == {18100, 18101, 18102}


def test_override_replaces_build_by_the_built_image():
    built = {"backend": "kamiwazaai/kaizen-backend:1.0.1-dev", "frontend": "kamiwazaai/kaizen-frontend:1.0.1-dev"}
    text = exttest.override_text(built, MODEL, ephemeral=False)
    assert '  "backend":\n    build: !reset null\n    image: "kamiwazaai/kaizen-backend:1.0.1-dev"\n    pull_policy: never\n    container_name: !reset null\n' in text
    assert "ports" not in text and '"redis"' not in text
    ephemeral = exttest.override_text(built, MODEL, ephemeral=True)
    assert 'ports: !override [{"target": 8000, "host_ip": "127.0.0.1", "protocol": "tcp"}]' in ephemeral
    assert '"metrics":\n    ports: !override' in ephemeral


def test_probes_mcp_for_tools_health_otherwise():
    found = exttest.endpoints(MODEL)
    assert exttest.probes("app", ["backend", "frontend"], found) == [
        exttest.Probe("backend", "health", 8000, "/health"),
        exttest.Probe("frontend", "health", 8080, "/health"),
    ]
    assert exttest.probes("tool", ["backend"], found) == [exttest.Probe("backend", "mcp", 8000, "/mcp")]
    assert exttest.probes("app", ["redis"], found) == []  # not built here, not published


def test_service_urls_come_from_the_running_ports():
    publishers = [
        {"service": "backend", "target": 8000, "published": 32770, "host": "127.0.0.1", "protocol": "tcp"},
        {"service": "frontend", "target": 8080, "published": 18101, "host": "0.0.0.0", "protocol": "tcp"},
        {"service": "frontend", "target": 8080, "published": 18101, "host": "::", "protocol": "tcp"},
    ]
    assert exttest.service_urls(exttest.endpoints(MODEL), publishers) == {
        "SERVICE_URL_BACKEND": "http://127.0.0.1:32770",
        "SERVICE_URL_FRONTEND": "http://127.0.0.1:18101",
    }
    assert exttest.service_variable("my-api.v2") == "SERVICE_URL_MY_API_V2"
    assert exttest.probe_url(exttest.Probe("backend", "mcp", 8000, "/mcp"), publishers) == "http://127.0.0.1:32770/mcp"


def test_waves_keep_colliding_extensions_apart():
    assert exttest.waves([{1}, {2}, {1, 3}, set(), {3}, {1}]) == [[0, 1, 3, 4], [2], [5]]
    assert exttest.waves([]) == []


def test_project_names_are_unique_and_valid():
    extension = Extension("app", "My_App.X", Path("/x"))
    names = {exttest.project_name(extension) for _ in range(20)}
    assert len(names) == 20
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name) for name in names)


def test_options_from_the_environment():
    assert exttest.options({}) == exttest.Options("declared", 120.0, 4)
    assert exttest.options({"TEST_PORTS": "ephemeral", "TEST_TIMEOUT": "30", "TEST_JOBS": "1"}) == exttest.Options("ephemeral", 30.0, 1)
    with pytest.raises(HarnessError, match="TEST_PORTS"):
        exttest.options({"TEST_PORTS": "random"})
    with pytest.raises(HarnessError, match="TEST_JOBS"):
        exttest.options({"TEST_JOBS": "0"})


def test_pytest_summary_finds_the_result_line():
    assert exttest.pytest_summary(["..", "3 passed in 0.1s", ""]) == "3 passed in 0.1s"
    assert exttest.pytest_summary(["F", "==== 1 failed, 2 passed in 1s ===="]) == "1 failed, 2 passed in 1s"


def test_make_test_needs_a_name(sample_repo: Path, run_cli):
    code, _, err = run_cli(sample_repo, "test")
    assert code == 2 and "make test needs NAME" in err


# ----------------------------------------------------------------------------- real engine


def _leftovers(project: str) -> list[str]:
    result = subprocess.run(["docker", "ps", "-a", "-q", "--filter", f"label=com.docker.compose.project={project}"], capture_output=True, text=True)
    volumes = subprocess.run(["docker", "volume", "ls", "-q", "--filter", f"label=com.docker.compose.project={project}"], capture_output=True, text=True)
    return result.stdout.split() + volumes.stdout.split()


def _projects(out: str) -> list[str]:
    return re.findall(r"\(project (kzt-[a-z0-9_-]+)", out)


@pytest.fixture
def ephemeral_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_PORTS", "ephemeral")


def test_make_test_on_the_tool_sample(built_samples, run_cli, ephemeral_ports):
    code, out, err = run_cli(built_samples.root, "test", "--type", "tool", "--name", "tool-text-utils")
    assert code == 0, out + err
    assert re.search(r"healthy: mcp \(MCP initialize http://127\.0\.0\.1:\d+/mcp\)", out)
    assert re.search(r"SERVICE_URL_MCP=http://127\.0\.0\.1:\d+", out)
    assert "3 passed" in out
    projects = _projects(out)
    assert projects and all(not _leftovers(p) for p in projects)


def test_make_test_all_runs_every_sample_and_tears_down(built_samples, run_cli, ephemeral_ports):
    code, out, err = run_cli(built_samples.root, "test-all")
    assert code == 0, out + err
    assert "healthy: backend (GET http://127.0.0.1:" in out and "healthy: frontend (GET" in out
    assert "healthy: api (GET" in out and "healthy: mcp (MCP initialize" in out
    rows = {line.split()[0]: line.split()[1] for line in out.splitlines() if line.startswith(("app/", "service/", "tool/"))}
    assert rows == {"app/kaizen": "passed", "service/service-kv": "passed", "tool/mcp-time": "passed", "tool/tool-text-utils": "passed"}
    assert all(not _leftovers(p) for p in _projects(out))
    summary = json.loads((built_samples.root / "build/reports/test-all.json").read_text())
    tool_checks = {c["check"]: c["outcome"] for c in summary["extensions"]["tool/tool-text-utils"]["checks"]}
    assert tool_checks == {"make test": "passed", "tests.test_mcp::test_echo_tool_round_trips_text": "passed",
                           "tests.test_mcp::test_initialize_names_the_server": "passed", "tests.test_mcp::test_text_tools": "passed"}
    junit = (built_samples.root / "build/reports/test-all.xml").read_text()
    assert junit.count("<testcase") == sum(len(e["checks"]) for e in summary["extensions"].values())


def test_failing_tests_print_logs_and_still_tear_down(built_samples, sample_repo: Path, run_cli, ephemeral_ports):
    folder = sample_repo / "extensions/services/service-kv"
    (folder / "tests" / "test_zz_fails.py").write_text("def test_fails():\n    assert False, 'deliberate failure'\n")
    compose_file = folder / "docker-compose.yml"
    chatty = (  # a service that writes a log line
        "  chatty:\n"
        "    image: kamiwaza-base/python:bookworm\n"
        "    command: [\"python3\", \"-c\", \"print('log-marker-of-chatty', flush=True); import time; time.sleep(600)\"]\n"
    )
    compose_file.write_text(compose_file.read_text().replace("\nvolumes:\n", "\n" + chatty + "volumes:\n"))
    code, out, err = run_cli(sample_repo, "test", "--type", "service", "--name", "service-kv")
    assert code == 1
    assert "1 failed, 2 passed" in out and "deliberate failure" in out
    assert "logs of service/service-kv" in out and re.search(r"\| .*chatty-1 .*log-marker-of-chatty", out)
    assert "service/service-kv: 1 failed, 2 passed" in err
    assert all(not _leftovers(p) for p in _projects(out))
    summary = json.loads((sample_repo / "build/reports/test-all.json").read_text())
    failed = [c for c in summary["extensions"]["service/service-kv"]["checks"] if c["outcome"] == "failed"]
    assert [c["check"] for c in failed] == ["make test", "tests.test_zz_fails::test_fails"]
    assert "deliberate failure" in failed[1]["message"]


def test_a_taken_port_is_named_with_its_process(built_samples, run_cli, monkeypatch: pytest.MonkeyPatch):
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("0.0.0.0", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("API_PORT", str(port))  # the sample's compose file reads ${API_PORT:-18300}
        code, out, err = run_cli(built_samples.root, "test", "--type", "service", "--name", "service-kv")
    assert code == 2
    assert f"host port {port} (0.0.0.0:{port}, service api) is already in use by" in err
    assert "python" in err and "pid" in err and "TEST_PORTS=ephemeral" in err
    assert "up service/service-kv" not in out  # nothing was started


def test_an_image_not_built_is_a_clear_error(sample_repo: Path, run_cli, unique_version):
    version = unique_version(sample_repo, "tools/tool-text-utils")
    code, out, err = run_cli(sample_repo, "test", "--type", "tool", "--name", "tool-text-utils")
    assert code == 2
    assert f'image "kamiwazaai/tool-text-utils-mcp:{version}-dev" is not built' in err
    assert "make build TYPE=tool NAME=tool-text-utils" in err


def test_the_override_is_valid_compose(built_samples, docker_client, tmp_path: Path):
    from release import docker, extensions

    extension = next(e for e in extensions.discover(built_samples.root) if e.name == "kaizen")
    prepared = exttest.prepare(extension, dict(docker.os.environ), docker_client)
    override = tmp_path / "override.yml"
    override.write_text(exttest.override_text(prepared.built, prepared.model, ephemeral=True))
    model = docker.Compose("kzt-override-check", [extension.compose_path, override], extension.path, dict(docker.os.environ)).config()
    backend = model["services"]["backend"]
    assert backend["image"] == "kamiwazaai/kaizen-backend:1.0.1-dev" and "build" not in backend and "container_name" not in backend
    assert backend["pull_policy"] == "never"
    assert [(p["host_ip"], p.get("published")) for p in backend["ports"]] == [("127.0.0.1", None)]
    assert model["services"]["redis"]["image"] == "redis:7-bookworm"


@pytest.mark.parametrize("signal_name", ["SIGINT", "SIGTERM"])
def test_an_interrupt_still_tears_down(built_samples, signal_name: str):
    import os
    import signal
    import sys
    import time

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env.update(TEST_PORTS="ephemeral")
    command = [sys.executable, "-m", "release", "--root", str(built_samples.root), "test", "--type", "service", "--name", "service-kv"]
    process = subprocess.Popen(command, cwd=Path(__file__).resolve().parent.parent, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line)
        if line.strip().startswith("up service/service-kv"):
            time.sleep(1.0)  # inside `docker compose up --wait`
            process.send_signal(getattr(signal, signal_name))
    assert process.wait(timeout=120) == 130, "".join(lines)
    out = "".join(lines)
    assert "interrupted" in out and "down service/service-kv" in out
    assert all(not _leftovers(p) for p in _projects(out))


def test_a_source_edit_without_a_rebuild_is_caught_by_make_test(sample_repo: Path, run_cli, unique_version, ephemeral_ports, build_lock):
    """The issue's newcomer: fix the code, forget `make build`, run `make test`."""
    unique_version(sample_repo, "tools/tool-text-utils")
    selector = ("--type", "tool", "--name", "tool-text-utils")
    with build_lock():
        code, out, err = run_cli(sample_repo, "build", *selector)
    assert code == 0, out + err
    server = sample_repo / "extensions/tools/tool-text-utils/server/mcp_server.py"
    server.write_text(server.read_text() + "\n# the fix, not rebuilt yet\n")

    code, out, err = run_cli(sample_repo, "test", *selector, "--no-build")
    assert code == 2
    assert 'service mcp) is built from older sources: run `make build TYPE=tool NAME=tool-text-utils`' in err
    assert "up tool/tool-text-utils" not in out  # the old image never ran

    with build_lock():
        code, out, err = run_cli(sample_repo, "test", *selector)
    assert code == 0, out + err
    assert "tool/tool-text-utils mcp: built from older sources, rebuilding" in out
    assert out.index("rebuilding") < out.index("up tool/tool-text-utils") and "3 passed" in out

    code, out, err = run_cli(sample_repo, "test", *selector, "--no-build")  # fresh now: nothing to rebuild
    assert code == 0 and "rebuilding" not in out, out + err


def test_test_all_reports_a_failed_rebuild_and_still_tests_the_others(sample_repo: Path, run_cli, unique_version, ephemeral_ports, build_lock):
    """One extension's stale image cannot be rebuilt: it is reported failed, the others are tested."""
    for relative in ("tools/tool-text-utils", "tools/mcp-time"):
        unique_version(sample_repo, relative)
    with build_lock():
        for name in ("tool-text-utils", "mcp-time"):
            code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", name)
            assert code == 0, out + err
    server = sample_repo / "extensions/tools/tool-text-utils/server/mcp_server.py"
    server.write_text(server.read_text() + "\n# edited after the build\n")
    dockerfile = next((sample_repo / "extensions/tools/mcp-time").rglob("Dockerfile"))
    dockerfile.write_text(dockerfile.read_text() + "RUN false\n")  # stale, and its rebuild fails

    with build_lock():
        code, out, err = run_cli(sample_repo, "test-all", "--type", "tool")
    assert code == 1, out + err
    assert "tool/mcp-time" in out and "rebuild failed" in out
    assert "up tool/tool-text-utils" in out and "3 passed" in out, out
    assert "up tool/mcp-time" not in out
