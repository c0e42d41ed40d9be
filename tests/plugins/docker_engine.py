"""Docker fixtures: the engine, the samples built once per session, a private image registry.

- `docker_client` (session): a client of the running engine; skips locally and fails in CI
  (KAMIWAZA_REQUIRE_INFRA=1) through `infra.unavailable` when there is none.
- `built_samples` (session): the samples (extensions/ and templates/) copied once into the
  session's shared temp folder and built there with `release.build`. Under pytest-xdist the
  first worker builds while the others wait on a file lock, then reuse the result, so each
  tag is built once per session. Tests may read the copy, never write into it.
- `image_registry` (session, per worker): Debian's `docker-registry` on 127.0.0.1:<free port>
  with htpasswd (bcrypt) auth, as a subprocess with its own config and storage.
- `docker_config` / `logged_in`: a private DOCKER_CONFIG, empty or after `docker login`.
- `unique_version(root, extension)`: give a copied extension a version no other test uses,
  so tests that build broken or extra images never retag the shared sample images; the
  images tagged with it are removed afterwards.
Tests that use these fixtures are marked `docker` automatically.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from tests.plugins.infra import free_port, stop_process, unavailable

REPO_ROOT = Path(__file__).resolve().parent.parent.parent
FIXTURE_MONOREPO = REPO_ROOT / "tests" / "fixtures" / "monorepo"
HOW_TO_START = "run `make bootstrap` (installs and starts Docker, Compose v2 and the base images)"
BASE_IMAGES = ("kamiwaza-base/python:bookworm", "redis:7-bookworm")
REGISTRY_BINARY = "/usr/bin/docker-registry"
_FIXTURES = ("docker_client", "built_samples", "image_registry", "docker_config", "logged_in", "unique_version", "build_lock")


@pytest.fixture(scope="session")
def docker_client() -> Any:
    try:
        from release import docker as engine_edge
        from release.errors import HarnessError
    except ImportError as error:  # the docker SDK is not installed
        unavailable(f"the docker SDK ({error})", HOW_TO_START)
    try:
        return engine_edge.engine()
    except HarnessError as error:
        unavailable(f"Docker engine ({error.problems[0].message})", HOW_TO_START)


def _shared_dir(factory: pytest.TempPathFactory) -> Path:
    """The session's temp folder every xdist worker of this run shares."""
    base = factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


@dataclass(frozen=True)
class BuiltSamples:
    root: Path  # a monorepo copy holding the samples; read-only for tests
    refs: dict[str, list[str]]  # extension id -> the {version}-dev references built
    seconds: float


@pytest.fixture(scope="session")
def built_samples(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> BuiltSamples:
    from release import build, extensions

    missing = [ref for ref in BASE_IMAGES if not _image_exists(docker_client, ref)]
    if missing:
        unavailable(f"the base images {', '.join(missing)}", "run `make base-images`")
    shared = _shared_dir(tmp_path_factory)
    root = shared / "docker-samples"
    marker = shared / "docker-samples.json"
    with open(shared / "docker-samples.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one worker builds; the others wait, then reuse
        if not marker.exists():
            started = time.monotonic()
            ignore = shutil.ignore_patterns("__pycache__", "build", "dist")
            shutil.copytree(FIXTURE_MONOREPO / "extensions", root / "extensions", ignore=ignore)
            shutil.copytree(REPO_ROOT / "templates", root / "templates", ignore=ignore)
            with open(shared / "docker-latest.lock", "w") as latest:
                fcntl.flock(latest, fcntl.LOCK_EX)
                results = build.build(root, extensions.discover(root), environ=dict(os.environ), client=docker_client, say=lambda line: None)
            failures = [r.problem.render() for r in results if not r.ok and r.problem]
            refs: dict[str, list[str]] = {}
            for result in results:
                refs.setdefault(result.extension, []).append(result.ref)
            marker.write_text(json.dumps({"refs": refs, "failures": failures, "seconds": time.monotonic() - started}))
    data = json.loads(marker.read_text())
    if data["failures"]:
        pytest.fail("building the samples failed:\n" + "\n".join(data["failures"]), pytrace=False)
    return BuiltSamples(root, data["refs"], data["seconds"])


def _image_exists(client: Any, ref: str) -> bool:
    from release import docker as engine_edge

    return engine_edge.local_image(client, ref) is not None


@pytest.fixture
def build_lock(tmp_path_factory: pytest.TempPathFactory) -> Callable[[], Any]:
    """Hold while building and asserting on `latest`: every build moves `latest`, whichever test runs it."""
    path = _shared_dir(tmp_path_factory) / "docker-latest.lock"

    @contextmanager
    def hold() -> Iterator[None]:
        with open(path, "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield

    return hold


@pytest.fixture
def unique_version(docker_client: Any) -> Iterator[Callable[[Path, str], str]]:
    """set(root, "tools/tool-text-utils") -> the new version; its images are removed afterwards.

    A test build also moves `latest`; afterwards `latest` goes back to the sample's own
    `{version}-dev` image when that exists.
    """
    from release import docker as engine_edge

    originals: dict[str, str] = {}  # test version -> the version it replaced

    def set_version(root: Path, relative: str) -> str:
        path = root / "extensions" / relative / "kamiwaza.json"
        data = json.loads(path.read_text())
        original = data["version"]
        data["version"] = f"{original.split('-')[0]}-dev.{uuid.uuid4().int % 10**12}"
        path.write_text(json.dumps(data, indent=2) + "\n")
        originals[data["version"]] = original
        return data["version"]

    yield set_version
    for image in docker_client.images.list():
        test_tags = [t for t in image.tags if any(v in t for v in originals)]
        if not test_tags:
            continue
        for tag in test_tags:
            engine_edge.remove_image(docker_client, tag)
        for tag in image.tags:
            if not tag.endswith(":latest") or any(t not in test_tags and t != tag for t in image.tags):
                continue
            engine_edge.remove_image(docker_client, tag)
            repository = tag.rsplit(":", 1)[0]
            for version, original in originals.items():
                if any(t.startswith(f"{repository}:{version}") for t in test_tags):
                    restored = f"{repository}:{original}-dev"
                    if engine_edge.local_image(docker_client, restored) is not None:
                        engine_edge.tag_image(docker_client, restored, tag)


@dataclass
class ImageRegistry:
    host: str  # 127.0.0.1:<port>
    user: str
    password: str
    process: subprocess.Popen
    log_path: Path
    pushed: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def _request(self, path: str, method: str = "GET", headers: dict[str, str] | None = None, auth: bool = True) -> tuple[int, dict[str, str], bytes]:
        request = urllib.request.Request(self.url + path, method=method, headers=dict(headers or {}))
        if auth:
            token = base64.b64encode(f"{self.user}:{self.password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def tags(self, name: str) -> list[str]:
        status, _, body = self._request(f"/v2/{name}/tags/list")
        if status == 404:
            return []
        assert status == 200, (status, body)
        return sorted(json.loads(body).get("tags") or [])

    def manifest_digest(self, name: str, tag: str) -> str | None:
        accept = ", ".join(
            (
                "application/vnd.docker.distribution.manifest.v2+json",
                "application/vnd.oci.image.manifest.v1+json",
                "application/vnd.docker.distribution.manifest.list.v2+json",
                "application/vnd.oci.image.index.v1+json",
            )
        )
        status, headers, _ = self._request(f"/v2/{name}/manifests/{tag}", method="HEAD", headers={"Accept": accept})
        return {k.lower(): v for k, v in headers.items()}.get("docker-content-digest") if status == 200 else None

    def anonymous_status(self) -> int:
        return self._request("/v2/", auth=False)[0]




def _start_registry(folder: Path, attempts: int = 3, wait: float = 20.0) -> ImageRegistry | str:
    if not os.access(REGISTRY_BINARY, os.X_OK):
        return f"{REGISTRY_BINARY} is not installed"
    if not shutil.which("htpasswd"):
        return "htpasswd (apache2-utils) is not installed"
    user, password = "pusher", secrets.token_urlsafe(16)
    htpasswd = folder / "htpasswd"
    made = subprocess.run(["htpasswd", "-Bbn", user, password], capture_output=True, text=True)
    if made.returncode != 0:
        return f"htpasswd failed: {made.stderr.strip()}"
    htpasswd.write_text(made.stdout)
    reason = "docker-registry did not start"
    for attempt in range(attempts):
        port = free_port()
        storage = folder / f"storage-{port}"
        storage.mkdir()
        config = folder / f"config-{port}.yml"
        config.write_text(
            "\n".join(
                [
                    "version: 0.1",
                    "log:",
                    "  level: warn",
                    "  accesslog: {disabled: true}",
                    "storage:",
                    f"  filesystem: {{rootdirectory: {json.dumps(str(storage))}}}",
                    "  delete: {enabled: true}",
                    "http:",
                    f"  addr: 127.0.0.1:{port}",
                    f"  secret: {secrets.token_hex(16)}",
                    "auth:",
                    f"  htpasswd: {{realm: kamiwaza-test, path: {json.dumps(str(htpasswd))}}}",
                    "",
                ]
            )
        )
        log_path = folder / f"registry-{port}.log"
        with open(log_path, "wb") as stream:
            process = subprocess.Popen([REGISTRY_BINARY, "serve", str(config)], stdout=stream, stderr=subprocess.STDOUT, start_new_session=True)
        registry = ImageRegistry(f"127.0.0.1:{port}", user, password, process, log_path)
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if registry.anonymous_status() == 401:
                    return registry
            except OSError:
                pass
            time.sleep(0.1)
        stop_process(process)
        reason = f"docker-registry on port {port} did not answer: {log_path.read_text(errors='replace')[-400:].strip()}"
    return reason




@pytest.fixture(scope="session")
def image_registry(docker_client: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ImageRegistry]:
    started = _start_registry(tmp_path_factory.mktemp("registry"))
    if isinstance(started, str):
        unavailable(f"a local image registry ({started})", "run `make bootstrap` (installs docker-registry and apache2-utils)")
    assert isinstance(started, ImageRegistry)
    try:
        yield started
    finally:
        stop_process(started.process)
        from release import docker as engine_edge

        for image in docker_client.images.list():  # the tags pushes left behind
            for tag in image.tags:
                if tag.startswith(f"{started.host}/"):
                    engine_edge.remove_image(docker_client, tag)


@pytest.fixture
def docker_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty docker config (no credentials) that the harness's client reads (DOCKER_CONFIG)."""
    folder = tmp_path / "docker-config"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    monkeypatch.setenv("DOCKER_CONFIG", str(folder))
    return folder


@pytest.fixture
def logged_in(docker_config: Path, image_registry: ImageRegistry) -> Path:
    """`docker login` to the test registry, into the private docker config."""
    result = subprocess.run(
        ["docker", "--config", str(docker_config), "login", image_registry.host, "--username", image_registry.user, "--password-stdin"],
        input=image_registry.password,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return docker_config


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if any(name in getattr(item, "fixturenames", ()) for name in _FIXTURES) and item.get_closest_marker("docker") is None:
            item.add_marker(pytest.mark.docker)
