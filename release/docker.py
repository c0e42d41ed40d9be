"""The Docker engine edge. Everything that talks to the engine, Compose or host ports lives here.

Engine (docker SDK, classic builder):
    engine() -> DockerClient                   a client from the environment that answered a ping
    save_images(refs, dest) -> {ref: path}     `docker save` of each image into dest/
    build_image(client, context, ...)          build and tag; BuildFailed with the log on failure
    local_image(client, ref) -> LocalImage|None
    tag_image(client, source, target)
    push_image(client, ref) -> digest          push one tag (never all tags of a repository)
    registry_digest(client, ref) -> digest     what the registry serves for a tag
    containers_publishing(client, port)

Compose (the `docker compose` CLI plugin, never the `docker-compose` wrapper):
    Compose(project, files, cwd, env)          config(), up(), ps_ports(), logs(), down()

Host (no engine needed):
    port_is_free(host, port), port_owners(port), wait_http(probe, url, timeout)

No engine, a missing image or Compose plugin is a HarnessError that says what to do.
The parsing helpers (`parse_proc_net_tcp`, `parse_ps_publishers`, `parse_sse_or_json`)
are pure and tested without Docker.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from release import images
from release.errors import EXIT_FAILED, HarnessError, Problem

START_ENGINE = "start one with `make bootstrap` (installs and starts Docker) or `dockerd &` (as root), or set DOCKER_HOST"
INSTALL_COMPOSE = "run `make bootstrap` (installs Compose v2 as the `docker compose` plugin)"


# ----------------------------------------------------------------------------- engine


def engine() -> docker.DockerClient:
    """A client for the engine the environment names; HarnessError when none answers."""
    try:
        client = docker.from_env(timeout=20)
        client.ping()
        client.api.timeout = 900  # builds and pushes stream for a long time
    except (DockerException, requests.RequestException, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise HarnessError(f"no Docker engine answers ({reason})", field="DOCKER_HOST", fix=START_ENGINE) from None
    return client


def save_images(refs: Iterable[str], dest: Path, *, client: docker.DockerClient | None = None) -> dict[str, Path]:
    """`docker save` each image to `dest/<archive name>.tar`, one archive per image.

    Every image is looked up first, so all missing ones are named in one error and
    nothing is written. An archive loads back with `docker load -i <file>`.
    """
    wanted = sorted(set(refs))
    client = client or engine()
    missing = []
    for ref in wanted:
        try:
            client.images.get(ref)
        except ImageNotFound:
            missing.append(ref)
    if missing:
        raise HarnessError(
            problems=[
                Problem(
                    f'image "{ref}" is not in the local Docker engine',
                    field="IMAGES",
                    fix=f"build it (`make build TYPE=.. NAME=..`, tagged for the stage) or pull it (`docker pull {ref}`), or leave IMAGES unset",
                )
                for ref in missing
            ]
        )
    names = {ref: _archive_name(ref) for ref in wanted}
    if len(set(names.values())) != len(names):
        raise HarnessError(f"two images map to one archive name: {', '.join(wanted)}", fix="rename one of the images")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Path] = {}
    for ref in wanted:
        path = dest / names[ref]
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("wb") as stream:
                for chunk in client.api.get_image(ref):
                    stream.write(chunk)
            os.replace(partial, path)
        except (DockerException, requests.RequestException) as error:
            partial.unlink(missing_ok=True)
            raise HarnessError(f'docker save of "{ref}" failed: {error}', field="IMAGES", fix="check the engine (`docker info`) and try again") from None
        saved[ref] = path
    return saved


def _archive_name(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref) + ".tar"


@dataclass(frozen=True)
class LocalImage:
    ref: str
    id: str
    size: int  # bytes
    repo_digests: tuple[str, ...]
    labels: Mapping[str, str]


def local_image(client: docker.DockerClient, ref: str) -> LocalImage | None:
    """The image a reference names in the local engine, or None."""
    try:
        attrs = client.api.inspect_image(ref)
    except (ImageNotFound, NotFound):
        return None
    except APIError as error:
        raise HarnessError(f'cannot inspect "{ref}": {_api_message(error)}', fix="check the engine (`docker info`)") from None
    config = attrs.get("Config") or {}
    return LocalImage(ref, attrs["Id"], int(attrs.get("Size") or 0), tuple(attrs.get("RepoDigests") or ()), dict(config.get("Labels") or {}))


_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\\\)|[@-Z\\\\-_])")


def clean_line(text: str) -> str:
    """A log line as a person reads it: ANSI escape codes removed, and of a line redrawn with
    carriage returns (progress bars) only its last state."""
    text = _ANSI.sub("", text)
    return text.rstrip("\r").rsplit("\r", 1)[-1]


class BuildFailed(Exception):
    """A build that ran and failed; `log` holds every line the builder printed."""

    def __init__(self, message: str, log: Sequence[str]) -> None:
        super().__init__(message)
        self.message = message
        self.log = list(log)


def build_image(
    client: docker.DockerClient,
    context: Path,
    *,
    dockerfile: str,
    tags: Sequence[str],
    labels: Mapping[str, str],
    buildargs: Mapping[str, str],
    target: str | None = None,
    on_line: Callable[[str], None] | None = None,
) -> tuple[str, list[str]]:
    """Build with the classic builder, then tag; (image id, build log). BuildFailed on failure."""
    lines: list[str] = []
    image_id: str | None = None
    error: str | None = None
    try:
        stream = client.api.build(
            path=str(context),
            dockerfile=dockerfile,
            tag=tags[0],
            labels=dict(labels),
            buildargs=dict(buildargs),
            target=target,
            rm=True,
            forcerm=True,
            pull=False,
            decode=True,
        )
        for chunk in stream:
            text = chunk.get("stream")
            if text:
                for line in map(clean_line, text.split("\n")):
                    if line.strip():
                        lines.append(line)
                        if on_line:
                            on_line(line)
            if "error" in chunk:
                error = clean_line(str(chunk.get("error") or (chunk.get("errorDetail") or {}).get("message") or "build failed").strip())
                lines.append(error)
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("ID"):
                image_id = aux["ID"]
    except (APIError, DockerException, requests.RequestException) as failure:
        raise BuildFailed(clean_line(_api_message(failure)), lines) from None
    except TypeError as failure:  # docker-py: the context cannot be read
        raise BuildFailed(str(failure), lines) from None
    if error is not None or image_id is None:
        raise BuildFailed(error or "the builder returned no image id", lines)
    for ref in tags[1:]:
        tag_image(client, image_id, ref)
    return image_id, lines


def tag_image(client: docker.DockerClient, source: str, target: str) -> None:
    repository, tag = images.split_ref(target)
    try:
        client.api.tag(source, repository, tag or images.LOCAL_ONLY_TAG, force=True)
    except APIError as error:
        raise HarnessError(f'cannot tag "{source}" as "{target}": {_api_message(error)}', fix="check the engine (`docker info`)") from None


def remove_image(client: docker.DockerClient, ref: str) -> None:
    """Untag `ref` (the image stays while other tags hold it); a missing tag is fine."""
    try:
        client.api.remove_image(ref, noprune=False)
    except (ImageNotFound, NotFound):
        pass
    except APIError as error:
        raise HarnessError(f'cannot remove "{ref}": {_api_message(error)}') from None


class PushFailed(Exception):
    def __init__(self, message: str, auth: bool) -> None:
        super().__init__(message)
        self.message = message
        self.auth = auth  # the registry refused the credentials (or there were none)


_AUTH_WORDS = ("unauthorized", "authentication required", "no basic auth credentials", "denied", "401")


def push_image(client: docker.DockerClient, ref: str, on_status: Callable[[str], None] | None = None) -> str:
    """Push exactly one tag; the digest the registry acknowledged. Credentials: the docker config."""
    repository, tag = images.split_ref(ref)
    if not tag:
        raise ValueError(f"push needs an explicit tag (a bare repository would push every tag): {ref}")
    digest: str | None = None
    try:
        for chunk in client.api.push(repository, tag=tag, stream=True, decode=True):
            if "error" in chunk:
                message = str(chunk.get("error") or (chunk.get("errorDetail") or {}).get("message")).strip()
                raise PushFailed(message, any(word in message.lower() for word in _AUTH_WORDS))
            aux = chunk.get("aux")
            if isinstance(aux, dict) and aux.get("Digest"):
                digest = aux["Digest"]
            status = chunk.get("status")
            if on_status and status and not chunk.get("progressDetail"):
                on_status(f"{chunk.get('id', '')}: {status}".lstrip(": "))
    except (APIError, DockerException, requests.RequestException) as error:
        message = _api_message(error)
        raise PushFailed(message, any(word in message.lower() for word in _AUTH_WORDS)) from None
    if digest is None:
        raise PushFailed("the registry acknowledged no digest", False)
    return digest


def registry_digest(client: docker.DockerClient, ref: str) -> str:
    """The manifest digest a registry serves for `ref` (the engine asks, with the docker config's credentials)."""
    try:
        return client.images.get_registry_data(ref).id
    except (APIError, DockerException, requests.RequestException) as error:
        raise HarnessError(f'the registry does not serve "{ref}": {_api_message(error)}', fix="check the registry and your `docker login`, then push again", exit_code=EXIT_FAILED) from None


def containers_publishing(client: docker.DockerClient, port: int) -> list[str]:
    """Names of running containers that publish host port `port` (best effort)."""
    try:
        return sorted(c.name for c in client.containers.list(filters={"publish": str(port)}))
    except (APIError, DockerException, requests.RequestException):
        return []


def _api_message(error: Exception) -> str:
    explanation = getattr(error, "explanation", None)
    text = explanation.decode(errors="replace") if isinstance(explanation, bytes) else str(explanation or error)
    return " ".join(text.split())


# ----------------------------------------------------------------------------- compose


def docker_cli() -> str:
    found = shutil.which("docker")
    if not found:
        raise HarnessError("the docker CLI is not installed", fix=INSTALL_COMPOSE)
    return found


@dataclass
class Compose:
    """One Compose project: `docker compose -p <project> -f <file>... <command>`."""

    project: str
    files: Sequence[Path]
    cwd: Path
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))

    def command(self, *args: str) -> list[str]:
        files = [part for path in self.files for part in ("-f", str(path))]
        return [docker_cli(), "compose", "-p", self.project, "--project-directory", str(self.cwd), *files, *args]

    def run(self, *args: str, timeout: float | None = None, detach_signals: bool = False) -> subprocess.CompletedProcess[str]:
        try:
            return subprocess.run(
                self.command(*args),
                cwd=self.cwd,
                env=dict(self.env),
                capture_output=True,
                text=True,
                timeout=timeout,
                # teardown must survive a second Ctrl-C: run it in its own session
                start_new_session=detach_signals,
            )
        except FileNotFoundError:
            raise HarnessError("the docker CLI is not installed", fix=INSTALL_COMPOSE) from None
        except subprocess.TimeoutExpired:
            raise HarnessError(f"`docker compose {args[0]}` took longer than {timeout:g}s", fix="check the engine (`docker info`)", exit_code=EXIT_FAILED) from None

    def config(self) -> dict[str, Any]:
        """The resolved model (`docker compose config --format json`): interpolated, merged."""
        result = self.run("config", "--format", "json", timeout=120)
        if result.returncode != 0:
            detail = _last_lines(result.stderr or result.stdout, 5)
            if "is not a docker command" in detail or "unknown command" in detail:
                raise HarnessError("the Compose v2 plugin (`docker compose`) is not installed", fix=INSTALL_COMPOSE)
            raise HarnessError(f"docker compose cannot read the project: {detail}", file=self.files[0], fix="correct the compose file (try `docker compose config`)")
        return json.loads(result.stdout)

    def up(self, wait_timeout: float) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--detach", "--wait", "--wait-timeout", str(int(wait_timeout)), "--no-build", timeout=wait_timeout + 120)

    def ps_publishers(self) -> list[dict[str, Any]]:
        result = self.run("ps", "--all", "--format", "json", timeout=60)
        if result.returncode != 0:
            raise HarnessError(f"docker compose ps failed: {_last_lines(result.stderr, 5)}", exit_code=EXIT_FAILED)
        return parse_ps_publishers(result.stdout)

    def logs(self, tail: int = 200) -> str:
        result = self.run("logs", "--no-color", "--timestamps", "--tail", str(tail), timeout=60)
        return (result.stdout or "") + (result.stderr or "")

    def down(self) -> subprocess.CompletedProcess[str]:
        return self.run("down", "--volumes", "--remove-orphans", "--timeout", "1", timeout=180, detach_signals=True)


def parse_ps_publishers(text: str) -> list[dict[str, Any]]:
    """`docker compose ps --format json` (a JSON list, or one object per line) -> one row per publisher.

    Each row: {"service", "target", "published", "host", "protocol"}; unpublished ports are left out.
    """
    text = text.strip()
    if not text:
        return []
    if text.startswith("["):
        containers = json.loads(text)
    else:
        containers = [json.loads(line) for line in text.splitlines() if line.strip()]
    rows: list[dict[str, Any]] = []
    for container in containers:
        for publisher in container.get("Publishers") or []:
            published = int(publisher.get("PublishedPort") or 0)
            if published:
                rows.append(
                    {
                        "service": container.get("Service"),
                        "target": int(publisher.get("TargetPort") or 0),
                        "published": published,
                        "host": publisher.get("URL") or "",
                        "protocol": publisher.get("Protocol") or "tcp",
                    }
                )
    return rows


def _last_lines(text: str, count: int) -> str:
    lines = [line for line in (text or "").splitlines() if line.strip()]
    return " | ".join(lines[-count:]) or "no output"


# ----------------------------------------------------------------------------- host ports


def port_is_free(host: str, port: int) -> bool:
    """Can a listener bind host:port now? (SO_REUSEADDR, like the engine's proxy.)"""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host or "0.0.0.0", port))
        except OSError:
            return False
    return True


_LISTEN = "0A"


def parse_proc_net_tcp(text: str) -> list[tuple[int, int]]:
    """/proc/net/tcp{,6} -> (port, socket inode) of each listening socket."""
    found: list[tuple[int, int]] = []
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) < 10 or parts[3] != _LISTEN:
            continue
        try:
            port = int(parts[1].rsplit(":", 1)[1], 16)
            inode = int(parts[9])
        except (IndexError, ValueError):
            continue
        found.append((port, inode))
    return found


def port_owners(port: int) -> list[str]:
    """Who listens on `port`, as "name (pid N)": /proc first, then `lsof` when installed."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            text = Path(table).read_text()
        except OSError:
            continue
        inodes |= {inode for listening, inode in parse_proc_net_tcp(text) if listening == port and inode}
    owners: list[str] = []
    if inodes:
        wanted = {f"socket:[{inode}]" for inode in inodes}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                links = {os.readlink(fd) for fd in (proc / "fd").iterdir()}
            except OSError:
                continue
            if links & wanted:
                owners.append(f"{_process_name(proc)} (pid {proc.name})")
    if not owners and shutil.which("lsof"):
        try:
            result = subprocess.run(["lsof", "-nP", f"-iTCP:{port}", "-sTCP:LISTEN", "-Fpc"], capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return []
        pid = None
        for line in result.stdout.splitlines():
            if line.startswith("p"):
                pid = line[1:]
            elif line.startswith("c") and pid:
                owners.append(f"{line[1:]} (pid {pid})")
    return sorted(set(owners))


def _process_name(proc: Path) -> str:
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        cmdline = ""
    cmdline = " ".join(cmdline.split())
    if cmdline:
        return cmdline if len(cmdline) <= 80 else cmdline[:77] + "..."
    try:
        return (proc / "comm").read_text().strip()
    except OSError:
        return "?"


# ----------------------------------------------------------------------------- health


MCP_INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-03-26", "capabilities": {}, "clientInfo": {"name": "kamiwaza-harness", "version": "1"}},
}


def parse_sse_or_json(body: str, content_type: str) -> Any:
    """A JSON-RPC answer sent as plain JSON or as server-sent events (streamable HTTP)."""
    if "text/event-stream" in content_type:
        for line in body.splitlines():
            if line.startswith("data:"):
                return json.loads(line[5:].strip())
        raise ValueError("no data line in the event stream")
    return json.loads(body)


def probe_once(kind: str, url: str, timeout: float = 3.0) -> str | None:
    """None when healthy; else why not. kind: "health" (GET, 2xx) or "mcp" (POST initialize -> result)."""
    try:
        if kind == "mcp":
            request = urllib.request.Request(
                url,
                data=json.dumps(MCP_INITIALIZE).encode(),
                headers={"Content-Type": "application/json", "Accept": "application/json, text/event-stream"},
                method="POST",
            )
        else:
            request = urllib.request.Request(url, method="GET")
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read().decode(errors="replace")
            if kind == "mcp":
                answer = parse_sse_or_json(body, response.headers.get("Content-Type", ""))
                if not isinstance(answer, dict) or "result" not in answer:
                    return f"initialize answered without a result: {body[:200]}"
            return None
    except urllib.error.HTTPError as error:
        return f"HTTP {error.code}"
    except (urllib.error.URLError, OSError, ValueError) as error:
        return " ".join(str(getattr(error, "reason", error)).split()) or type(error).__name__


def wait_http(kind: str, url: str, timeout: float, interval: float = 0.5) -> str | None:
    """Poll until healthy (None) or `timeout` seconds pass (the last reason)."""
    deadline = time.monotonic() + timeout
    reason = probe_once(kind, url)
    while reason is not None and time.monotonic() < deadline:
        time.sleep(interval)
        reason = probe_once(kind, url)
    return reason
