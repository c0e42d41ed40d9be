"""`make bench`: a synthetic monorepo of N extensions, and the time and memory of each step on it.

Two halves:
  - the generator (pure): `plans(n)` describes N extensions (apps with 2-4 services,
    some of them other people's images, tools and services); `extension_files(plan)`
    gives each one's files as text; `remote_entries` / `local_entries` give the two
    registries `python -m release merge` plans between. `write_monorepo` puts a
    monorepo on disk and runs sync-compose in-process, so every App Garden file exists.
  - the parse floor: one process that reads every `kamiwaza.json` with `json` and every
    compose file with PyYAML's pure-Python `SafeLoader`, once. It is measured in the same
    run, at each size, and every step is reported as a ratio to it: a step can hardly do
    less than read its inputs, so the ratio says what the step costs beyond reading them,
    on whatever machine runs the bench.
  - the runner (thin): every step runs as its own process (as `make` would run it),
    several times (after an untimed warm-up); the median wall time is reported, the
    CPU time of the process and its children (wait4), and the peak memory of the
    step's whole process tree: the sum of the processes' proportional set sizes,
    sampled from /proc every 100 ms (a sample costs ~3 ms of CPU), and never less
    than the largest single process's peak RSS since its exec (VmHWM; the child's
    ru_maxrss would also count this process's memory, shared between fork and exec).
    No test asserts any time: speed is measured here, never asserted.

Memory is in MiB (2**20 bytes), shown as MB.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from release import checks_run, extensions, images, sync
from release.errors import HarnessError

DEFAULT_N = 200
DEFAULT_RUNS = 3
DEFAULT_WARMUP = 1  # untimed runs of each step before the timed ones (first size only)
TARGET_N = 200  # the size the time targets are stated for
MEMORY_TARGET_N = 800  # the size the memory target is stated for (validate only)
REMOTE_ENTRIES = 10_000  # published entries the merge step plans against
MEMORY_TARGET_MB = 150.0
MEMORY_TARGET_STEP = "validate"
FLOOR_KEY = "parse-floor"
REPORT_FILE = "build/bench.json"
PYCACHE_DIR = "build/bench-pycache"  # bytecode of the steps (see clean_environment)

# Variables a step must not inherit from the shell that ran `make bench`.
HARNESS_VARIABLES = (
    "TYPE", "NAME", "STAGE", "DRY_RUN", "FORCE", "BUILD", "CHECK", "SINCE", "IMAGES", "LOCK_TIMEOUT",
    "LOCK_ID", "IMAGE_REGISTRY", "N", "KAMIWAZA_ROOT", "SOURCE_DATE_EPOCH",
)  # and every PYTEST_* (a pytest running the bench must not leak into the pytest it times)

# --------------------------------------------------------------------------- the generator (pure)

WORDS = (
    "atlas", "beacon", "cobalt", "delta", "ember", "fable", "granite", "harbor", "iris", "juniper",
    "kestrel", "lumen", "meridian", "nimbus", "onyx", "prism", "quartz", "raven", "sierra", "tundra",
)
KAMIWAZA_RANGES = (">=0.9.0,<1.0.0", ">=0.9.0", ">=0.8.0,!=0.8.5", ">=0.9.2,<0.10", ">=0.10.0,<0.12.0")
CATEGORIES = ("productivity", "analytics", "data", "developer-tools", "knowledge", "operations")


@dataclass(frozen=True)
class External:
    """A service running someone else's image (kept as it is in App Garden files)."""

    name: str
    image: str
    port: int
    volume: str  # named volume for its data, mounted at `data_path`
    data_path: str
    environment: tuple[tuple[str, str], ...]
    healthcheck: tuple[str, ...]


EXTERNALS = (
    External("redis", "redis:7-bookworm", 6379, "redis-data", "/data", (), ("CMD", "redis-cli", "ping")),
    External(
        "postgres", "postgres:16-bookworm", 5432, "pg-data", "/var/lib/postgresql/data",
        (("POSTGRES_USER", "app"), ("POSTGRES_PASSWORD", "${POSTGRES_PASSWORD:-app}"), ("POSTGRES_DB", "app")),
        ("CMD-SHELL", "pg_isready -U app"),
    ),
    External("qdrant", "qdrant/qdrant:v1.9.2", 6333, "qdrant-data", "/qdrant/storage", (), ("CMD", "true")),
)


@dataclass(frozen=True)
class Plan:
    """One synthetic extension."""

    index: int
    type: str  # app | tool | service
    name: str
    version: str
    kamiwaza_version: str
    category: str
    built: tuple[str, ...]  # services built from a Dockerfile in <service>/
    externals: tuple[External, ...] = ()
    seed_mount: bool = False  # a dev-only bind mount sync-compose drops

    @property
    def folder(self) -> str:
        return f"{extensions.EXTENSIONS_DIR}/{self.type}s/{self.name}"

    @property
    def display_name(self) -> str:
        return " ".join(part.capitalize() for part in self.name.split("-"))

    @property
    def base_port(self) -> int:
        return 20000 + 10 * self.index


def plan(index: int) -> Plan:
    """The `index`-th extension: 5 in 10 apps (2, 3 or 4 services), 3 tools, 2 services."""
    word = WORDS[index % len(WORDS)]
    version = f"{1 + index % 3}.{index % 7}.{index % 5}"
    common = dict(
        index=index,
        version=version,
        kamiwaza_version=KAMIWAZA_RANGES[index % len(KAMIWAZA_RANGES)],
        category=CATEGORIES[index % len(CATEGORIES)],
    )
    kind = index % 10
    if kind < 5:  # an app: backend and frontend, plus 0, 1 or 2 more (a worker, other people's images)
        extra = index % 3
        built: tuple[str, ...] = ("backend", "frontend")
        externals: tuple[External, ...] = ()
        if extra == 1:
            externals = (EXTERNALS[index % len(EXTERNALS)],)
        elif extra == 2:
            built, externals = ((*built, "worker"), (EXTERNALS[0],)) if index % 2 else (built, (EXTERNALS[1], EXTERNALS[2]))
        return Plan(type="app", name=f"{word}-{index:04d}", built=built, externals=externals, seed_mount=index % 3 == 0, **common)
    if kind < 8:
        return Plan(type="tool", name=f"tool-{word}-{index:04d}", built=("mcp",), **common)
    externals = (EXTERNALS[0],) if index % 2 else ()
    return Plan(type="service", name=f"service-{word}-{index:04d}", built=("api",), externals=externals, **common)


def plans(n: int) -> list[Plan]:
    return [plan(index) for index in range(n)]


def manifest(plan: Plan) -> dict[str, Any]:
    data: dict[str, Any] = {
        "name": plan.name,
        "display_name": plan.display_name,
        "version": plan.version,
        "description": f"{plan.display_name}: a synthetic {plan.type} for benchmarking the harness.",
        "template_type": plan.type,
        "source_type": "kamiwaza",
        "visibility": ("public", "team", "private")[plan.index % 3],
        "risk_tier": plan.index % 3,
        "verified": plan.index % 4 == 0,
        "kamiwaza_version": plan.kamiwaza_version,
        "category": plan.category,
        "tags": sorted({plan.type, plan.category, WORDS[plan.index % len(WORDS)]}),
        "author": "Kamiwaza",
        "license": "MIT",
        "preview_image": f"assets/{plan.name}.svg",
    }
    if plan.type == "app":
        data["env_defaults"] = {"LOG_LEVEL": "info", "BOARD_TITLE": plan.display_name}
    if plan.type == "tool":
        data["capabilities"] = ["mcp"]
    return data


def _healthcheck(argv: Sequence[str], indent: str) -> str:
    return f"{indent}healthcheck:\n{indent}  test: {json.dumps(list(argv))}\n{indent}  interval: 2s\n{indent}  timeout: 3s\n{indent}  retries: 30\n"


def _http_check(port: int) -> tuple[str, ...]:
    return ("CMD", "python3", "-c", f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=2)")


def _built_service(plan: Plan, position: int, service: str) -> str:
    port = 8080 if service == "frontend" else 8000
    variable = f"{service.upper()}_PORT"
    lines = [f"  {service}:"]
    if service == "frontend":
        lines += ["    build:", f"      context: ./{service}", "      dockerfile: Dockerfile"]
    else:
        lines.append(f"    build: ./{service}")
    if plan.type == "app" and service == "backend" and plan.index % 4 == 1:
        lines.append(f"    container_name: {plan.name}-{service}")
    if service != "worker":
        host = "127.0.0.1:" if position % 2 == 0 else ""
        lines += ["    ports:", f'      - "{host}${{{variable}:-{plan.base_port + position}}}:{port}"']
    lines += ["    environment:", "      LOG_LEVEL: ${LOG_LEVEL:-info}"]
    for external in plan.externals if service != "frontend" else ():
        lines.append(f"      {external.name.upper()}_URL: {external.name}:{external.port}")
    if service in ("frontend", "worker") and "backend" in plan.built:
        lines.append("      BACKEND_URL: http://backend:8000")
    if plan.seed_mount and service == "backend":
        lines += ["    volumes:", "      - ./backend/seed:/app/seed:ro"]
    dependencies = [e.name for e in plan.externals] if service in ("backend", "api") else (["backend"] if "backend" in plan.built and service != "backend" else [])
    if dependencies:
        lines.append("    depends_on:")
        for dependency in dependencies:
            lines += [f"      {dependency}:", "        condition: service_healthy"]
    if service == "worker":
        return "\n".join(lines) + "\n"
    if plan.type == "app":
        lines += ["    healthcheck:", "      <<: *http-health", f"      test: {json.dumps(list(_http_check(port)))}"]
        return "\n".join(lines) + "\n"
    return "\n".join(lines) + "\n" + _healthcheck(_http_check(port), "    ")


def _external_service(external: External) -> str:
    lines = [f"  {external.name}:", f"    image: {external.image}"]
    if external.environment:
        lines.append("    environment:")
        lines += [f"      {key}: {value}" for key, value in external.environment]
    lines += ["    volumes:", f"      - {external.volume}:{external.data_path}"]
    return "\n".join(lines) + "\n" + _healthcheck(external.healthcheck, "    ")


def compose_text(plan: Plan) -> str:
    """The extension's docker-compose.yml, written as a person would (anchors, defaults, comments)."""
    parts = ["# Local development stack. `make sync-compose` derives docker-compose.appgarden.yml from it.\n"]
    if plan.type == "app":
        parts.append("x-healthcheck: &http-health\n  interval: 2s\n  timeout: 3s\n  retries: 30\n\n")
    parts.append("services:\n")
    parts += [_built_service(plan, position, service) for position, service in enumerate(plan.built)]
    parts += [_external_service(external) for external in plan.externals]
    if plan.externals:
        parts.append("volumes:\n" + "".join(f"  {e.volume}:\n" for e in plan.externals))
    return "".join(parts)


def _dockerfile(main: str, port: int) -> str:
    return (
        "# Built on the local base image from `make base-images` (no registry pull needed).\n"
        "ARG BASE_IMAGE=kamiwaza-base/python:bookworm\nFROM ${BASE_IMAGE}\nWORKDIR /app\n"
        f"COPY {main} .\nEXPOSE {port}\nUSER nobody\nCMD [\"python3\", \"/app/{main}\"]\n"
    )


def _server(plan: Plan, service: str, port: int) -> str:
    return (
        f'"""{plan.display_name} {service}: answers /health (synthetic, for `make bench`)."""\n\n'
        "from http.server import BaseHTTPRequestHandler, HTTPServer\n\n\n"
        "class Handler(BaseHTTPRequestHandler):\n"
        "    def do_GET(self):\n"
        "        body = b'{\"status\": \"ok\"}'\n"
        "        self.send_response(200 if self.path == '/health' else 404)\n"
        "        self.send_header('Content-Type', 'application/json')\n"
        "        self.end_headers()\n"
        "        self.wfile.write(body)\n\n\n"
        f"HTTPServer(('0.0.0.0', {port}), Handler).serve_forever()\n"
    )


def _svg(plan: Plan) -> str:
    colour = f"#{(plan.index * 2654435761) % 0xFFFFFF:06x}"
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" width="320" height="180" viewBox="0 0 320 180">'
        f'<rect width="320" height="180" fill="{colour}"/><text x="160" y="98" font-family="sans-serif" '
        f'font-size="22" fill="#fff" text-anchor="middle">{plan.display_name}</text></svg>\n'
    )


def extension_files(plan: Plan) -> dict[str, str]:
    """Every file of the extension (path relative to its folder -> text), App Garden file excepted."""
    files = {
        extensions.MANIFEST: json.dumps(manifest(plan), indent=2) + "\n",
        extensions.COMPOSE: compose_text(plan),
        "README.md": f"# {plan.display_name}\n\nA synthetic {plan.type} made by `make bench`.\n",
        f"assets/{plan.name}.svg": _svg(plan),
        f"tests/test_{plan.type}.py": (
            "import os\nimport urllib.request\n\n\ndef test_health():\n"
            "    url = os.environ.get('EXTENSION_URL', 'http://127.0.0.1:8000')\n"
            "    assert urllib.request.urlopen(f'{url}/health', timeout=5).status == 200\n"
        ),
    }
    for service in plan.built:
        port = 8080 if service == "frontend" else 8000
        files[f"{service}/Dockerfile"] = _dockerfile("main.py", port)
        files[f"{service}/main.py"] = _server(plan, service, port)
    if plan.seed_mount:
        files["backend/seed/items.json"] = json.dumps([{"id": i, "title": f"item {i}"} for i in range(3)]) + "\n"
    return files


def registry_entry(plan: Plan, stage: str = "dev", *, version: str | None = None) -> dict[str, Any]:
    """A published-registry entry much like `make build-registry` writes for the extension."""
    version = version or plan.version
    data = manifest(plan) | {"version": version, "preview_image": f"images/{plan.name}.svg"}
    built = [images.service_image(plan.name, service, {"build": f"./{service}"}, version, stage) for service in plan.built]
    used = list(dict.fromkeys([*built, *(e.image for e in plan.externals)]))  # compose order, as make_entry lists them
    lines = ["services:"]
    for ref in used:
        lines += [f"  {ref.split('/')[-1].split(':')[0]}:", f"    image: {ref}", "    extra_hosts:", "      - host.docker.internal:host-gateway"]
    return data | {"docker_images": used, "compose_yml": "\n".join(lines) + "\n"}


def local_entries(n: int, stage: str = "dev") -> list[dict[str, Any]]:
    """The N entries a publish of the synthetic monorepo would merge."""
    return [registry_entry(p, stage) for p in plans(n)]


def remote_entries(n: int, count: int = REMOTE_ENTRIES, stage: str = "dev") -> list[dict[str, Any]]:
    """`count` published entries: an older release of every other local extension (so the merge
    replaces it; the rest are first publishes), then other extensions, every fifth with a second
    release for a disjoint kamiwaza_version range. Every merge decision is INSERT or REPLACE."""
    older = [registry_entry(p, stage, version=f"0.{p.index % 7}.{p.index % 5}") for p in plans(n) if p.index % 2 == 0]
    entries = older[:count]
    offset = n  # filler names never clash with the local ones
    while len(entries) < count:
        base = plan(offset)
        filler = replace(base, name=f"{base.name.rsplit('-', 1)[0]}-r{offset:06d}", kamiwaza_version=">=0.9.0")
        entries.append(registry_entry(filler, stage))
        if offset % 5 == 0 and len(entries) < count:
            entries.append(registry_entry(replace(filler, kamiwaza_version="<0.9.0"), stage, version="0.1.0"))
        offset += 1
    return entries


# --------------------------------------------------------------------------- writing the monorepo (I/O)


def write_monorepo(root: Path, n: int) -> list[extensions.Extension]:
    """Write N extensions under `root`, then sync-compose them; HarnessError if one does not sync."""
    for item in plans(n):
        folder = root / item.folder
        for relative, text in extension_files(item).items():
            path = folder / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    found = extensions.discover(root)
    failed = [result for result in sync.sync(found, check=False) if not result.ok]
    if failed:
        raise HarnessError(problems=[problem for result in failed for problem in result.problems], exit_code=1)
    return found


def write_merge_inputs(folder: Path, n: int, remote_count: int = REMOTE_ENTRIES) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    remote, local = folder / "remote.json", folder / "local.json"
    remote.write_text(json.dumps(remote_entries(n, remote_count)), encoding="utf-8")
    local.write_text(json.dumps(local_entries(n)), encoding="utf-8")
    return remote, local


# --------------------------------------------------------------------------- steps (pure)


@dataclass(frozen=True)
class Step:
    key: str  # parse-floor | validate | sync-compose | build-registry | merge
    title: str  # the command it stands for
    argv: tuple[str, ...]
    target_ratio: float | None  # at most this many times the parse floor, at N=TARGET_N (None: no target)
    env: Mapping[str, str] = field(default_factory=dict)  # added to the clean environment
    skip: str | None = None  # why the step cannot run here


# Issue 16: the template's validation scripts take 1.75x the floor, its build-registry 1.3x.
TARGET_RATIOS: Mapping[str, float | None] = {"validate": 1.75, "sync-compose": 1.0, "build-registry": 1.3, "merge": None}

# The parse floor, self-contained (json, yaml, os only) so that its own start-up is the least a
# Python step can cost: every kamiwaza.json with json, every compose file with the pure SafeLoader.
PARSE_FLOOR_SCRIPT = """\
import json, os, sys
import yaml
root = os.path.join(sys.argv[1], "extensions")
manifests = composes = 0
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        if name == "kamiwaza.json":
            with open(path, encoding="utf-8") as stream:
                json.load(stream)
            manifests += 1
        elif name.startswith("docker-compose") and name.endswith((".yml", ".yaml")):
            with open(path, encoding="utf-8") as stream:
                yaml.load(stream, Loader=yaml.SafeLoader)
            composes += 1
print(f"parsed {manifests} manifests and {composes} compose files")
"""


def floor_step(python: str, root: Path) -> Step:
    return Step(FLOOR_KEY, "parse floor (json + yaml.SafeLoader, once each)", (python, "-c", PARSE_FLOOR_SCRIPT, str(root)), None)


def steps(python: str, root: Path, remote: Path, local: Path, *, merge_available: bool) -> tuple[Step, ...]:
    release = (python, "-m", "release", "--root", str(root))
    junit = root / "build" / "reports" / "validate.xml"
    return (
        # exactly `make validate` (no xdist: one item per family per extension is too cheap for it;
        # Compose's model runs in process), the JUnit report inside the synthetic monorepo
        Step("validate", "make validate (pytest checks/, plugin autoload off)",
             (python, "-m", "pytest", "checks/", *checks_run.FAST_PYTEST_ARGS, f"--junitxml={junit}"),
             TARGET_RATIOS["validate"], env={"KAMIWAZA_ROOT": str(root), **checks_run.FAST_PYTEST_ENV}),
        Step("sync-compose", "make sync-compose CHECK=1", (*release, "sync-compose", "--check"), TARGET_RATIOS["sync-compose"]),
        Step("build-registry", "make build-registry", (*release, "build-registry"), TARGET_RATIOS["build-registry"]),
        Step("merge", "python -m release merge", (*release, "merge", "--remote", str(remote), "--local", str(local)), TARGET_RATIOS["merge"],
             skip=None if merge_available else "the merge command is not in this version of the harness"),
    )


def clean_environment(base: Mapping[str, str], pycache: Path | None = None) -> dict[str, str]:
    """The shell's environment without the harness's variables.

    With `pycache`, Python may write bytecode (PYTHONDONTWRITEBYTECODE is dropped) into
    that private folder (PYTHONPYCACHEPREFIX, unless one is set): a step then starts as
    it does on a developer's machine or a CI runner, where pytest's rewritten plugin
    modules are cached, and the checkout and site-packages stay untouched.
    """
    env = {key: value for key, value in base.items() if key not in HARNESS_VARIABLES and not key.startswith("PYTEST_")}
    if pycache is not None:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.setdefault("PYTHONPYCACHEPREFIX", str(pycache))
    return env


# --------------------------------------------------------------------------- measuring (I/O)


@dataclass(frozen=True)
class Run:
    seconds: float  # wall time
    cpu_seconds: float  # user + system time of the process and the children it waited for
    peak_mb: float
    exit_code: int


def _process_tree(pid: int) -> dict[int, int]:
    """`pid` and every descendant alive now, each with its parent (from /proc/<p>/stat)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                stat = stream.read()
        except OSError:
            continue
        parent = int(stat[stat.rindex(b")") + 2 :].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    tree, pending = {pid: 0}, [pid]
    while pending:
        current = pending.pop()
        for child in children.get(current, []):
            tree[child] = current
            pending.append(child)
    return tree


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as stream:
            return stream.read()
    except OSError:
        return None


_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _memory_kib(pid: int) -> int:
    """Proportional set size (shared pages split between the processes sharing them), else RSS."""
    rollup = _read(f"/proc/{pid}/smaps_rollup")
    if rollup:
        for line in rollup.splitlines():
            if line.startswith(b"Pss:"):
                return int(line.split()[1])
    statm = _read(f"/proc/{pid}/statm")
    return int(statm.split()[1]) * _PAGE // 1024 if statm else 0


def _high_water_kib(pid: int) -> int:
    """The process's peak resident set since its exec (VmHWM), 0 when unknown."""
    status = _read(f"/proc/{pid}/status")
    for line in (status or b"").splitlines():
        if line.startswith(b"VmHWM:"):
            return int(line.split()[1])
    return 0


def tree_memory_mb(pid: int) -> float:
    """Memory of a process tree: the sum of each process's proportional set size now, or
    the largest single process's peak resident set since its exec, whichever is larger.

    A child that has not yet exec'd (same command line as its parent, between fork and
    exec) shares its parent's memory and is not counted again. VmHWM is a high-water
    mark, so a sample also catches a peak reached between samples.
    """
    tree = _process_tree(pid)
    lines = {member: _read(f"/proc/{member}/cmdline") for member in tree}
    counted = [member for member, parent in tree.items() if parent == 0 or lines[member] != lines.get(parent)]
    total = sum(_memory_kib(member) for member in counted)
    return max(total, max((_high_water_kib(member) for member in counted), default=0)) / 1024


def run_once(argv: Sequence[str], cwd: Path, env: Mapping[str, str], log_path: Path, interval: float = 0.1) -> Run:
    """Run one command; wall time, peak memory of its process tree, exit code. Output goes to `log_path`.

    Memory comes from /proc samples (see tree_memory_mb). The child's own ru_maxrss is used
    only where /proc is missing: on Linux it also counts the memory of this (large) process
    that the child shared between fork and exec, so it overstates a small step.
    """
    peak = [0.0]
    done = threading.Event()
    sampling = os.path.isdir("/proc")
    with open(log_path, "ab") as log:
        started = time.perf_counter()
        process = subprocess.Popen(list(argv), cwd=cwd, env=dict(env), stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

        def sample() -> None:
            while not done.is_set():
                peak[0] = max(peak[0], tree_memory_mb(process.pid))
                done.wait(interval)

        sampler = threading.Thread(target=sample, daemon=True) if sampling else None
        if sampler:
            sampler.start()
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        done.set()
        if sampler:
            sampler.join()
    process.returncode = os.waitstatus_to_exitcode(status)
    largest = usage.ru_maxrss / (2**20 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux
    return Run(seconds, usage.ru_utime + usage.ru_stime, peak[0] if sampling and peak[0] > 0 else largest, process.returncode)


@dataclass(frozen=True)
class Measurement:
    n: int
    step: Step
    runs: tuple[Run, ...] = ()
    status: str = "ok"  # ok | failed | skipped
    note: str = ""
    floor_s: float | None = None  # the parse floor's median at the same N, in the same run
    floor_cpu_s: float | None = None  # and its median CPU time

    @property
    def median_s(self) -> float | None:
        return statistics.median(r.seconds for r in self.runs) if self.runs else None

    @property
    def median_cpu_s(self) -> float | None:
        return statistics.median(r.cpu_seconds for r in self.runs) if self.runs else None

    @property
    def peak_mb(self) -> float | None:
        return max(r.peak_mb for r in self.runs) if self.runs else None

    @property
    def ratio(self) -> float | None:
        """Median time over the parse floor's median at the same N."""
        if self.median_s is None or not self.floor_s:
            return None
        return self.median_s / self.floor_s

    @property
    def cpu_ratio(self) -> float | None:
        """Median CPU time over the floor's: steadier than wall time on a machine others load too."""
        if self.median_cpu_s is None or not self.floor_cpu_s:
            return None
        return self.median_cpu_s / self.floor_cpu_s

    @property
    def time_target(self) -> float | None:
        return self.step.target_ratio if self.n == TARGET_N else None

    @property
    def memory_target(self) -> float | None:
        return MEMORY_TARGET_MB if self.n == MEMORY_TARGET_N and self.step.key == MEMORY_TARGET_STEP else None

    @property
    def target_met(self) -> bool | None:
        """Against the targets that apply here (time at N=200, validate's memory at N=800); None if none do."""
        if self.status != "ok" or self.median_s is None:
            return None
        verdicts = []
        if self.time_target is not None and self.ratio is not None:
            verdicts.append(self.ratio <= self.time_target)
        if self.memory_target is not None:
            verdicts.append((self.peak_mb or 0.0) < self.memory_target)
        return all(verdicts) if verdicts else None

    def target_text(self) -> str:
        parts = []
        if self.time_target is not None:
            parts.append(f"<= {self.time_target:g}x")
        if self.memory_target is not None:
            parts.append(f"< {self.memory_target:g} MB")
        return ", ".join(parts) or "-"


def measure(step: Step, n: int, runs: int, cwd: Path, env: Mapping[str, str], log_path: Path, *, warmup: int = 0) -> Measurement:
    """`warmup` untimed runs first (bytecode and file caches), then `runs` timed ones."""
    if step.skip:
        return Measurement(n, step, status="skipped", note=step.skip)
    env = {**env, **step.env}
    done: list[Run] = []
    for attempt in range(warmup + runs):
        result = run_once(step.argv, cwd, env, log_path)
        if result.exit_code != 0:
            return Measurement(n, step, (*done, result), "failed", f"exit code {result.exit_code} (its output: {log_path.name}, kept with --keep)")
        if attempt >= warmup:
            done.append(result)
    return Measurement(n, step, tuple(done))


# --------------------------------------------------------------------------- reporting (pure)


def linear_fit(points: Sequence[tuple[float, float]]) -> tuple[float, float, float] | None:
    """Least squares t = a + b*N over (N, t): (a, b, largest residual as a fraction of t)."""
    if len({n for n, _ in points}) < 2:
        return None
    mean_n = statistics.fmean(n for n, _ in points)
    mean_t = statistics.fmean(t for _, t in points)
    slope = sum((n - mean_n) * (t - mean_t) for n, t in points) / sum((n - mean_n) ** 2 for n, _ in points)
    intercept = mean_t - slope * mean_n
    worst = max(abs(t - (intercept + slope * n)) / t for n, t in points if t > 0)
    return intercept, slope, worst


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def with_floors(measurements: Sequence[Measurement]) -> list[Measurement]:
    """Each measurement with the parse floor of its size (measured in the same run) attached."""
    floors = {m.n: m for m in measurements if m.step.key == FLOOR_KEY and m.status == "ok"}
    return [replace(m, floor_s=floors[m.n].median_s, floor_cpu_s=floors[m.n].median_cpu_s) if m.n in floors else m for m in measurements]


def result_rows(measurements: Sequence[Measurement]) -> list[tuple[str, ...]]:
    rows = []
    for m in measurements:
        met = {True: "met", False: "MISSED", None: "-"}[m.target_met]
        runs = ", ".join(f"{r.seconds:.2f}" for r in m.runs) or "-"
        ratio = "-" if m.ratio is None else f"{m.ratio:.2f}x"
        cpu_ratio = "-" if m.cpu_ratio is None else f"{m.cpu_ratio:.2f}x"
        rows.append((str(m.n), m.step.key, _fmt(m.median_s), ratio, runs, _fmt(m.median_cpu_s, 2), cpu_ratio, _fmt(m.peak_mb, 0), m.target_text(), met if m.status == "ok" else m.status))
    return rows


RESULT_HEADERS = ("N", "step", "median s", "x floor", "runs s", "cpu s", "cpu x floor", "peak MB", "target", "result")
GROWTH_HEADERS = ("step", "fixed s", "ms per extension", "worst fit error")


def growth_rows(measurements: Sequence[Measurement]) -> list[tuple[str, ...]]:
    """Per step, t = fixed + per-extension * N fitted over the sizes measured."""
    rows = []
    for key in dict.fromkeys(m.step.key for m in measurements):
        points = [(float(m.n), m.median_s) for m in measurements if m.step.key == key and m.median_s is not None and m.status == "ok"]
        fit = linear_fit(points)
        if fit is not None:
            rows.append((key, f"{fit[0]:.2f}", f"{fit[1] * 1000:.2f}", f"{fit[2] * 100:.0f}%"))
    return rows


def document(measurements: Sequence[Measurement], *, sizes: Sequence[int], runs: int, remote_count: int, generate_s: Mapping[int, float]) -> dict[str, Any]:
    """The content of build/bench.json."""
    fits = {}
    for key in dict.fromkeys(m.step.key for m in measurements):
        fit = linear_fit([(float(m.n), m.median_s) for m in measurements if m.step.key == key and m.median_s is not None and m.status == "ok"])
        if fit is not None:
            fits[key] = {"fixed_s": round(fit[0], 4), "per_extension_ms": round(fit[1] * 1000, 4), "worst_fit_error": round(fit[2], 4)}
    return {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0], "platform": sys.platform},
        "sizes": list(sizes),
        "runs": runs,
        "merge_inputs": {"remote_entries": remote_count, "local_entries": "N"},
        "targets": {
            "n": TARGET_N,
            "ratio_to_parse_floor": dict(TARGET_RATIOS),
            "memory": {"step": MEMORY_TARGET_STEP, "n": MEMORY_TARGET_N, "peak_mb": MEMORY_TARGET_MB},
        },
        "parse_floor_s": {str(m.n): round(m.median_s, 4) for m in measurements if m.step.key == FLOOR_KEY and m.median_s is not None},
        "parse_floor_cpu_s": {str(m.n): round(m.median_cpu_s, 4) for m in measurements if m.step.key == FLOOR_KEY and m.median_cpu_s is not None},
        "generate_s": {str(n): round(s, 3) for n, s in generate_s.items()},
        "results": [
            {
                "n": m.n,
                "step": m.step.key,
                "command": m.step.title,
                "status": m.status,
                "note": m.note,
                "median_s": None if m.median_s is None else round(m.median_s, 4),
                "ratio_to_floor": None if m.ratio is None else round(m.ratio, 3),
                "cpu_ratio_to_floor": None if m.cpu_ratio is None else round(m.cpu_ratio, 3),
                "runs_s": [round(r.seconds, 4) for r in m.runs],
                "median_cpu_s": None if m.median_cpu_s is None else round(m.median_cpu_s, 3),
                "peak_mb": None if m.peak_mb is None else round(m.peak_mb, 1),
                "target_ratio": m.time_target,
                "target_peak_mb": m.memory_target,
                "target_met": m.target_met,
            }
            for m in measurements
        ],
        "growth": fits,
    }


def write_report(path: Path, data: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
