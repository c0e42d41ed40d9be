"""`make test` / `make test-all`: bring an extension up from its built images and run its tests/.

For one extension:
  1. the built `{version}-dev` images must exist (else: run `make build`);
  2. the host ports it publishes must be free (else: which port, and who holds it);
  3. `docker compose -p <unique> -f docker-compose.yml -f <override> up -d --wait`, where the
     override replaces every `build` by the built image (`pull_policy: never`: no rebuild,
     no pull) and drops `container_name` (a fixed name would collide with another run);
  4. wait for `GET /health` on every published service built here, or for the MCP endpoint
     (`POST /mcp` initialize) on container port 8000 of a tool;
  5. run the extension's tests/ with pytest (a subprocess) with SERVICE_URL_<SERVICE> set to
     http://127.0.0.1:<host port> for every published service;
  6. on failure print the services' logs; always `down -v --remove-orphans` (also on Ctrl-C).

TEST_PORTS=declared (default) uses the ports the compose file declares; TEST_PORTS=ephemeral
lets the engine pick free loopback ports (parallel runs of one extension, CI).
`test-all` runs extensions in parallel where their declared host ports do not collide.

The planning functions (`endpoints`, `override_text`, `probes`, `service_urls`, `waves`,
`project_name`) are pure and tested without Docker.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from release import build as builds
from release import log, sync
from release.config import parse_seconds
from release.errors import EXIT_FAILED, HarnessError, Problem
from release.extensions import Extension

PORT_MODES = ("declared", "ephemeral")
MCP_PORT = 8000
MCP_PATH = "/mcp"
HEALTH_PATH = "/health"
DEFAULT_TIMEOUT = 120.0
TESTS_TIMEOUT = 900.0
LOG_TAIL = 200
MAX_JOBS = 4
LOOPBACK = "127.0.0.1"

Say = Callable[[str], None]


@dataclass(frozen=True)
class Endpoint:
    """A port a service publishes on the host."""

    service: str
    target: int
    host_ip: str  # "" = every interface
    published: int | None  # None: the engine picks one
    protocol: str = "tcp"


@dataclass(frozen=True)
class Probe:
    service: str
    kind: str  # "health" or "mcp"
    target: int
    path: str


@dataclass(frozen=True)
class RunResult:
    extension: str
    ok: bool
    seconds: float
    summary: str
    problem: Problem | None = None


@dataclass(frozen=True)
class Options:
    ports: str = "declared"
    timeout: float = DEFAULT_TIMEOUT
    jobs: int = MAX_JOBS
    reports_dir: Path | None = None  # where each extension's tests write JUnit XML (junit_path)


# ----------------------------------------------------------------------------- pure planning


def options(env: Mapping[str, str]) -> Options:
    mode = (env.get("TEST_PORTS") or "declared").strip().lower()
    if mode not in PORT_MODES:
        raise HarnessError(f'TEST_PORTS="{mode}" is not a port mode', field="TEST_PORTS", fix=f"use one of {', '.join(PORT_MODES)}")
    jobs_text = (env.get("TEST_JOBS") or "").strip()
    if jobs_text and not (jobs_text.isdigit() and int(jobs_text) > 0):
        raise HarnessError(f'TEST_JOBS="{jobs_text}" is not a positive number', field="TEST_JOBS", fix="set TEST_JOBS=1 (one at a time) or more")
    return Options(mode, parse_seconds("TEST_TIMEOUT", env.get("TEST_TIMEOUT"), DEFAULT_TIMEOUT), int(jobs_text) if jobs_text else MAX_JOBS)


def endpoints(model: Mapping[str, Any]) -> list[Endpoint]:
    """Published TCP ports of a resolved compose model (`docker compose config --format json`)."""
    found: list[Endpoint] = []
    for service, definition in (model.get("services") or {}).items():
        for port in definition.get("ports") or []:
            protocol = port.get("protocol") or "tcp"
            if protocol != "tcp" or not port.get("target"):
                continue
            for published in _published(port.get("published")):
                found.append(Endpoint(service, int(port["target"]), port.get("host_ip") or "", published, protocol))
    return found


def _published(value: Any) -> list[int | None]:
    text = str(value or "").strip()
    if not text:
        return [None]
    if "-" in text:  # a range: every port in it is held
        low, _, high = text.partition("-")
        return list(range(int(low), int(high) + 1))
    return [int(text)]


def host_ports(found: Sequence[Endpoint]) -> set[int]:
    return {e.published for e in found if e.published is not None}


def override_text(built: Mapping[str, str], model: Mapping[str, Any], *, ephemeral: bool) -> str:
    """A compose override: built image instead of build, no fixed container name, optional free ports.

    JSON scalars are valid YAML, so values are written with json.dumps.
    """
    lines = ["# generated by `make test`: run the built images, never rebuild or pull them", "services:"]
    for service, definition in (model.get("services") or {}).items():
        entries: list[str] = []
        if service in built:
            entries += ["build: !reset null", f"image: {json.dumps(built[service])}", "pull_policy: never"]
        if "container_name" in definition:
            entries.append("container_name: !reset null")
        if ephemeral and definition.get("ports"):
            ports = [
                {"target": int(p["target"]), "host_ip": LOOPBACK, "protocol": p.get("protocol") or "tcp"}
                for p in definition["ports"]
                if p.get("target")
            ]
            entries.append(f"ports: !override {json.dumps(ports)}")
        if entries:
            lines.append(f"  {json.dumps(service)}:")
            lines += [f"    {entry}" for entry in entries]
    if len(lines) == 2:
        lines.append("  {}")
    return "\n".join(lines) + "\n"


def probes(extension_type: str, built: Sequence[str], found: Sequence[Endpoint]) -> list[Probe]:
    """What proves each published service built here is up: the MCP endpoint of a tool, else /health.

    Services from other people's images (redis, postgres) are covered by `up --wait`.
    """
    chosen: list[Probe] = []
    for service in built:
        targets = [e.target for e in found if e.service == service]
        if not targets:
            continue
        if extension_type == "tool" and MCP_PORT in targets:
            chosen.append(Probe(service, "mcp", MCP_PORT, MCP_PATH))
        else:
            chosen.append(Probe(service, "health", targets[0], HEALTH_PATH))
    return chosen


def service_variable(service: str) -> str:
    return "SERVICE_URL_" + re.sub(r"[^A-Za-z0-9]", "_", service).upper()


def url_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return LOOPBACK
    return f"[{host}]" if ":" in host else host


def service_urls(found: Sequence[Endpoint], publishers: Sequence[Mapping[str, Any]]) -> dict[str, str]:
    """SERVICE_URL_<SERVICE> -> base URL of the first port each service publishes (as running)."""
    urls: dict[str, str] = {}
    for endpoint in found:
        variable = service_variable(endpoint.service)
        if variable in urls:
            continue
        for row in publishers:
            if row["service"] == endpoint.service and row["target"] == endpoint.target and row["protocol"] == "tcp":
                urls[variable] = f"http://{url_host(row['host'])}:{row['published']}"
                break
    return urls


def probe_url(probe: Probe, publishers: Sequence[Mapping[str, Any]]) -> str | None:
    for row in publishers:
        if row["service"] == probe.service and row["target"] == probe.target and row["protocol"] == "tcp":
            return f"http://{url_host(row['host'])}:{row['published']}{probe.path}"
    return None


def waves(port_sets: Sequence[set[int]]) -> list[list[int]]:
    """Group indexes so that no two in a group share a host port (greedy, order kept)."""
    groups: list[tuple[list[int], set[int]]] = []
    for index, ports in enumerate(port_sets):
        for members, used in groups:
            if not (used & ports):
                members.append(index)
                used |= ports
                break
        else:
            groups.append(([index], set(ports)))
    return [members for members, _ in groups]


def project_name(extension: Extension) -> str:
    """A Compose project name no other run uses (lowercase, digits, '-' and '_')."""
    base = re.sub(r"[^a-z0-9_-]+", "-", extension.name.lower()).strip("-_") or "ext"
    return f"kzt-{base}-{os.getpid()}-{uuid.uuid4().hex[:8]}"


def pytest_summary(lines: Sequence[str]) -> str:
    for line in reversed(lines):
        text = line.strip().strip("=").strip()
        if re.search(r"\b(passed|failed|error|errors|skipped|no tests ran)\b", text):
            return text
    return lines[-1].strip() if lines else ""


# ----------------------------------------------------------------------------- preparation


@dataclass(frozen=True)
class Prepared:
    extension: Extension
    built: Mapping[str, str]  # service -> `{version}-dev` reference
    model: Mapping[str, Any]
    endpoints: tuple[Endpoint, ...]


def prepare(extension: Extension, env: Mapping[str, str], client: Any) -> Prepared:
    """Manifest, compose model and built images of one extension; HarnessError when not ready."""
    from release import docker

    parsed, document = sync.load_sources(extension)
    built = {service: builds.local_tags(repository, parsed.version)[0] for service, repository in builds.built_repositories(extension, parsed, document).items()}
    missing = [ref for ref in built.values() if docker.local_image(client, ref) is None]
    if missing:
        raise HarnessError(
            problems=[
                Problem(
                    f'image "{ref}" is not built',
                    file=extension.compose_path,
                    fix=f"run `make build TYPE={extension.type} NAME={extension.name}` first",
                )
                for ref in missing
            ]
        )
    model = docker.Compose(project_name(extension), [extension.compose_path], extension.path, env).config()
    for service, definition in (model.get("services") or {}).items():
        image = definition.get("image")
        if service not in built and image and docker.local_image(client, image) is None:
            log.warn(f"{extension.id}: {image} (service {service}) is not in the local engine; Compose will try to pull it")
    return Prepared(extension, built, model, tuple(endpoints(model)))


def port_problems(prepared: Prepared, client: Any) -> list[Problem]:
    """A Problem per declared host port that something already holds, naming who when visible."""
    from release import docker

    problems: list[Problem] = []
    for endpoint in prepared.endpoints:
        if endpoint.published is None or docker.port_is_free(endpoint.host_ip, endpoint.published):
            continue
        holders = docker.port_owners(endpoint.published)
        containers = docker.containers_publishing(client, endpoint.published)
        who = ", ".join([*holders, *(f"container {name}" for name in containers)])
        where = f"{endpoint.host_ip or '0.0.0.0'}:{endpoint.published}"
        problems.append(
            Problem(
                f"host port {endpoint.published} ({where}, service {endpoint.service}) is already in use" + (f" by {who}" if who else ""),
                file=prepared.extension.compose_path,
                field=f"services.{endpoint.service}.ports",
                fix=f"stop what holds it (`lsof -i :{endpoint.published}`), set the port variable to a free port, or run with TEST_PORTS=ephemeral",
            )
        )
    return problems


# ----------------------------------------------------------------------------- running


def run_one(
    prepared: Prepared,
    *,
    env: Mapping[str, str],
    client: Any,
    opts: Options,
    say: Say = log.info,
    cancel: threading.Event | None = None,
) -> RunResult:
    """Up, wait, test, (logs), down. A failure is a RunResult; bad input a HarnessError."""
    from release import docker

    extension = prepared.extension
    started = time.monotonic()
    ephemeral = opts.ports == "ephemeral"
    if not ephemeral:
        problems = port_problems(prepared, client)
        if problems:
            raise HarnessError(problems=problems)

    def result(ok: bool, summary: str, problem: Problem | None = None) -> RunResult:
        return RunResult(extension.id, ok, time.monotonic() - started, summary, problem)

    def failed(summary: str, compose_project: docker.Compose | None) -> RunResult:
        if compose_project is not None:
            say(f"  logs of {extension.id} (last {LOG_TAIL} lines per service):")
            lines = compose_project.logs(LOG_TAIL).splitlines()
            for line in lines:
                say(f"    | {line}")
            if not lines:
                say("    (the services wrote no log output)")
        problem = Problem(f"{extension.id}: {summary}", file=extension.path / "tests", fix=f"read the output and logs above; re-run `make test TYPE={extension.type} NAME={extension.name}`")
        return result(False, summary, problem)

    with tempfile.TemporaryDirectory(prefix="kamiwaza-test-") as scratch:
        override = Path(scratch) / "docker-compose.test.yml"
        override.write_text(override_text(prepared.built, prepared.model, ephemeral=ephemeral), encoding="utf-8")
        project = docker.Compose(project_name(extension), [extension.compose_path, override], extension.path, env)
        if cancel is not None and cancel.is_set():
            return result(False, "cancelled")
        try:
            say(f"  up {extension.id} (project {project.project}, ports {opts.ports})")
            up = project.up(opts.timeout)
            if up.returncode != 0:
                tail = [line for line in (up.stderr or up.stdout).splitlines() if line.strip()][-15:]
                for line in tail:
                    say(f"    | {line}")
                return failed(f"docker compose up failed ({tail[-1].strip() if tail else 'no output'})", project)
            publishers = project.ps_publishers()
            for probe in probes(extension.type, list(prepared.built), prepared.endpoints):
                if cancel is not None and cancel.is_set():
                    return result(False, "cancelled")
                url = probe_url(probe, publishers)
                if url is None:
                    return failed(f"service {probe.service} publishes no port {probe.target} on the host", project)
                what = "MCP initialize" if probe.kind == "mcp" else "GET"
                reason = docker.wait_http(probe.kind, url, opts.timeout)
                if reason is not None:
                    return failed(f"{what} {url} did not answer within {opts.timeout:g}s ({reason})", project)
                say(f"  healthy: {probe.service} ({what} {url})")
            urls = service_urls(prepared.endpoints, publishers)
            if cancel is not None and cancel.is_set():
                return result(False, "cancelled")
            ok, summary = run_tests(extension, urls, env, say, cancel, junit_path(opts.reports_dir, extension))
            if not ok:
                return failed(summary, project)
            return result(True, summary)
        finally:
            down = project.down()
            if down.returncode != 0:
                log.warn(f"teardown of {project.project} failed: {' '.join((down.stderr or '').split())[-300:]}; remove it with `docker compose -p {project.project} down -v`")
            else:
                say(f"  down {extension.id} (project {project.project})")


def junit_path(reports_dir: Path | None, extension: Extension) -> Path | None:
    """build/reports/tests/<type>-<name>.xml: the JUnit XML of one extension's own tests."""
    return None if reports_dir is None else reports_dir / f"{extension.type}-{extension.name}.xml"


def run_tests(
    extension: Extension,
    urls: Mapping[str, str],
    env: Mapping[str, str],
    say: Say,
    cancel: threading.Event | None = None,
    junit: Path | None = None,
) -> tuple[bool, str]:
    """pytest on the extension's tests/, isolated from the harness's own pytest configuration."""
    tests = extension.path / "tests"
    if not tests.is_dir():
        return True, "healthy; no tests/ folder"
    environment = {key: value for key, value in env.items() if not key.startswith("PYTEST_")}
    environment.update(urls, PYTHONDONTWRITEBYTECODE="1")
    for variable, url in sorted(urls.items()):
        say(f"  {variable}={url}")
    own_ini = extension.path / "pytest.ini"
    with tempfile.TemporaryDirectory(prefix="kamiwaza-pytest-") as scratch:
        ini = own_ini if own_ini.is_file() else Path(scratch) / "pytest.ini"
        if not own_ini.is_file():
            ini.write_text("[pytest]\n", encoding="utf-8")
        command = [
            sys.executable, "-m", "pytest", str(tests), "-q", "-p", "no:cacheprovider",
            "-c", str(ini), "--rootdir", str(extension.path), "--confcutdir", str(extension.path),
        ]
        if junit is not None:
            junit.parent.mkdir(parents=True, exist_ok=True)
            junit.unlink(missing_ok=True)  # a stale file must not stand for this run
            command += ["--junitxml", str(junit), "-o", f"junit_suite_name={extension.id}"]
        lines: list[str] = []
        try:
            process = subprocess.Popen(command, cwd=extension.path, env=environment, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        except OSError as error:
            return False, f"pytest could not start: {error}"
        deadline = time.monotonic() + TESTS_TIMEOUT
        assert process.stdout is not None
        try:
            for line in process.stdout:
                lines.append(line.rstrip("\n"))
                say(f"    {line.rstrip()}")
                if time.monotonic() > deadline:
                    process.kill()
                    return False, f"tests took longer than {TESTS_TIMEOUT:g}s"
                if cancel is not None and cancel.is_set():
                    process.kill()
                    return False, "cancelled"
            code = process.wait()
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    summary = pytest_summary(lines)
    if code == 5:
        return True, "healthy; no tests collected"
    return code == 0, summary or f"pytest exit code {code}"


def run_all(
    extensions: Sequence[Extension],
    *,
    env: Mapping[str, str],
    client: Any,
    opts: Options,
    say: Say = log.info,
) -> list[RunResult]:
    """Test each extension; in parallel (up to opts.jobs) where declared host ports allow."""
    prepared: list[Prepared] = []
    results: dict[str, RunResult] = {}
    for extension in extensions:
        try:
            prepared.append(prepare(extension, env, client))
        except HarnessError as error:
            for problem in error.problems:
                say(f"  error: {problem.render()}")
            results[extension.id] = RunResult(extension.id, False, 0.0, "not ready", error.problems[0])
    ephemeral = opts.ports == "ephemeral"
    groups = [list(range(len(prepared)))] if ephemeral else waves([host_ports(p.endpoints) for p in prepared])
    cancel = threading.Event()
    parallel = len(prepared) > 1 and opts.jobs > 1

    def one(item: Prepared) -> RunResult:
        speak = (lambda line: say(f"[{item.extension.id}] {line.strip()}")) if parallel else say
        try:
            return run_one(item, env=env, client=client, opts=opts, say=speak, cancel=cancel)
        except HarnessError as error:
            for problem in error.problems:
                speak(f"error: {problem.render()}")
            return RunResult(item.extension.id, False, 0.0, "not started", error.problems[0])

    for group in groups:
        members = [prepared[i] for i in group]
        if not parallel or len(members) == 1:
            for item in members:
                results[item.extension.id] = one(item)
            continue
        with ThreadPoolExecutor(max_workers=min(opts.jobs, len(members)), thread_name_prefix="make-test") as pool:
            futures = [pool.submit(one, item) for item in members]
            try:
                for item, future in zip(members, futures):
                    results[item.extension.id] = future.result()
            except KeyboardInterrupt:
                cancel.set()  # not-yet-started runs stop; running ones tear down in their finally
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    return [results[e.id] for e in extensions if e.id in results]


RESULT_HEADERS = ("extension", "result", "time", "tests")


def result_rows(results: Sequence[RunResult]) -> list[tuple[str, ...]]:
    return [(r.extension, "passed" if r.ok else "FAILED", f"{r.seconds:.1f}s", r.summary) for r in results]


def raise_for_failures(results: Sequence[RunResult]) -> None:
    failed = [r.problem or Problem(f"{r.extension}: {r.summary}") for r in results if not r.ok]
    if failed:
        raise HarnessError(problems=failed, exit_code=EXIT_FAILED)
