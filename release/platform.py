"""Platform rules Kamiwaza enforces: extensions run as non-root on Kubernetes.

A non-root process cannot bind a port below 1024, and the stock nginx and httpd
images start as root. The SDK's `validators/platform_runtime.py` refuses these
shapes at publish time; these rules say so at `make validate`, naming the file,
the field and the fix. Semantics follow the SDK:

- a container port is the last part of a short-syntax entry (`127.0.0.1:8080:80/tcp`
  -> 80; a range counts by its first port) or a long-syntax `target`;
- Dockerfile rules read the *final* stage, following `FROM <earlier stage>` chains;
- a final stage based on nginx/httpd/apache (basename `nginx`, `nginx-*`, `httpd`, ...)
  or installing one of them must switch to a non-root `USER`; with no `USER` it passes
  only when the base image says it is unprivileged (`nginxinc/nginx-unprivileged`);
- an image-only nginx/httpd service is rootful unless its name says unprivileged.

Every rule is `fn(extension, document) -> list[Problem]` over the parsed
docker-compose.yml; the Dockerfile rules read the service's Dockerfile (the only I/O),
and the parsing underneath (`dockerfile_stages`, `container_port`) is pure.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping

from release import compose, images
from release.errors import Problem
from release.extensions import Extension

PRIVILEGED_BELOW = 1024
FIX_PORT = "listen on 8080 or above (Kamiwaza runs extensions as non-root, which cannot bind ports below 1024)"
FIX_USER = "add USER <non-root user> to the final stage (e.g. `USER nginx` or `USER 101`), or build FROM an unprivileged image such as nginxinc/nginx-unprivileged"
FIX_IMAGE = "use an unprivileged image (e.g. nginxinc/nginx-unprivileged) or build from a Dockerfile that adds USER <non-root user>"

_HTTP_SERVERS = ("nginx", "httpd", "apache", "apache2")
_UNPRIVILEGED_MARKS = ("unprivileged", "nonroot", "non-root")
_INSTALLS_SERVER = re.compile(r"\b(?:apt-get|apt|apk|yum|dnf|microdnf|zypper)\b[^\n]*\b(?:install|add)\b[^\n]*?(?<![\w.-])(nginx|httpd|apache2)(?![\w.-])", re.IGNORECASE)


# ----------------------------------------------------------------------------- ports


def container_port(entry: Any) -> int | None:
    """The container port of a `ports` entry in any syntax; None when it cannot be read."""
    if isinstance(entry, bool):
        return None
    if isinstance(entry, int):
        return entry
    if isinstance(entry, Mapping):
        entry = entry.get("target")
        if isinstance(entry, int) and not isinstance(entry, bool):
            return entry
    if not isinstance(entry, str):
        return None
    resolved = compose.resolve_defaults(entry.strip())
    if resolved is None:
        return None
    last = compose.split_colons(resolved)[-1].split("/", 1)[0]
    match = re.fullmatch(r"\s*(\d+)(?:-\d+)?\s*", last)
    return int(match.group(1)) if match else None


def privileged_port_problems(extension: Extension, document: Mapping[str, Any]) -> list[Problem]:
    """A container port below 1024 in any service's `ports`."""
    problems = []
    for name, service in _services(document):
        ports = service.get("ports")
        for index, entry in enumerate(ports if isinstance(ports, list) else []):
            port = container_port(entry)
            if port is not None and port < PRIVILEGED_BELOW:
                problems.append(Problem(f"container port {port} is privileged", file=extension.compose_path, field=f"services.{name}.ports[{index}]", fix=FIX_PORT))
    return problems


# ----------------------------------------------------------------------------- Dockerfiles (pure parsing)


@dataclass
class Stage:
    """One `FROM` stage of a Dockerfile: its base, alias, instructions (with line numbers), last USER."""

    base: str
    alias: str | None = None
    line: int = 0
    user: str | None = None
    user_line: int | None = None
    instructions: list[tuple[int, str]] = field(default_factory=list)


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first physical line number, instruction) with `\\` continuations joined and comments dropped."""
    current, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if not current:
            start = number
        current = f"{current} {stripped}" if current else stripped
        if current.endswith("\\"):
            current = current[:-1].rstrip()
            continue
        yield start, current
        current = ""
    if current:
        yield start, current


def _tokens(text: str) -> list[str]:
    try:
        return shlex.split(text, posix=True)
    except ValueError:
        return text.split()


def dockerfile_stages(text: str) -> list[Stage]:
    stages: list[Stage] = []
    for number, line in _logical_lines(text):
        keyword, _, rest = line.partition(" ")
        keyword = keyword.upper()
        if keyword == "FROM":
            words = [word for word in _tokens(rest) if not word.startswith("--")]
            if words:
                alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
                stages.append(Stage(words[0], alias, number))
        elif stages:
            stage = stages[-1]
            stage.instructions.append((number, line))
            if keyword == "USER":
                words = _tokens(rest)
                stage.user, stage.user_line = (words[0] if words else rest.strip()), number
    return stages


def _chain(stages: list[Stage]) -> list[Stage]:
    """The final stage and the earlier stages it is built FROM, nearest first."""
    if not stages:
        return []
    by_alias = {stage.alias.lower(): stage for stage in stages if stage.alias}
    chain = [stages[-1]]
    while chain[-1].base.lower() in by_alias and by_alias[chain[-1].base.lower()] not in chain:
        chain.append(by_alias[chain[-1].base.lower()])
    return chain


def _basename(ref: str) -> str:
    return images.split_ref(ref)[0].rsplit("/", 1)[-1].lower()


def is_http_server_image(ref: str) -> bool:
    base = _basename(ref)
    return any(base == server or base.startswith(f"{server}-") for server in _HTTP_SERVERS)


def says_unprivileged(ref: str) -> bool:
    return any(mark in ref.lower() for mark in _UNPRIVILEGED_MARKS)


def is_non_root(user: str | None) -> bool:
    if not user:
        return False
    primary = user.strip().lower().split(":", 1)[0]
    return not (primary == "root" or (primary.isdigit() and int(primary) == 0))


def exposed_privileged_ports(text: str) -> list[tuple[int, int]]:
    """(line, port) for each EXPOSE below 1024 in the final stage's chain."""
    found = []
    for stage in reversed(_chain(dockerfile_stages(text))):
        for number, line in stage.instructions:
            keyword, _, rest = line.partition(" ")
            if keyword.upper() != "EXPOSE":
                continue
            for token in _tokens(rest):
                match = re.fullmatch(r"(\d+)(?:-\d+)?", token.split("/", 1)[0])
                if match and int(match.group(1)) < PRIVILEGED_BELOW:
                    found.append((number, int(match.group(1))))
    return found


def rootful_http_server(text: str) -> str | None:
    """What makes the final stage an nginx/httpd server that keeps running as root; None when it does not."""
    chain = _chain(dockerfile_stages(text))
    if not chain:
        return None
    base = chain[-1].base  # the image the chain starts FROM
    installed = next((m.group(1) for stage in chain for _, line in stage.instructions for m in [_INSTALLS_SERVER.search(line)] if m), None)
    if not is_http_server_image(base) and installed is None:
        return None
    user = next((stage.user for stage in chain if stage.user is not None), None)
    if user is not None:
        return None if is_non_root(user) else f"the final stage runs as USER {user}"
    if installed is None and says_unprivileged(base):
        return None
    what = f"FROM {base}" if is_http_server_image(base) else f"installs {installed}"
    return f"{what} and never switches to a non-root USER"


# ----------------------------------------------------------------------------- rules over an extension


def _services(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    for name, service in compose.services(document).items():
        if isinstance(service, Mapping):
            yield str(name), service


def _dockerfiles(extension: Extension, document: Mapping[str, Any]) -> Iterator[tuple[str, Path, str]]:
    """(service, Dockerfile path, text) of each built service whose Dockerfile is readable inside the extension."""
    base = extension.compose_path.parent.resolve()
    seen: set[Path] = set()
    for name, service in _services(document):
        context = compose.build_context(service)
        if context is None or "://" in context:
            continue
        path = (base / context / compose.dockerfile_of(service)).resolve()
        if path in seen or not path.is_relative_to(base):
            continue  # missing or outside files are dockerfile_problems' and the builder's to report
        seen.add(path)
        try:
            yield name, path, path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue


def exposed_port_problems(extension: Extension, document: Mapping[str, Any]) -> list[Problem]:
    """A Dockerfile `EXPOSE` below 1024 (the field names the line)."""
    return [
        Problem(f"EXPOSE {port} is a privileged port (service {name})", file=path, field=f"EXPOSE (line {line})", fix=FIX_PORT)
        for name, path, text in _dockerfiles(extension, document)
        for line, port in exposed_privileged_ports(text)
    ]


def root_http_server_problems(extension: Extension, document: Mapping[str, Any]) -> list[Problem]:
    """An nginx- or httpd-based Dockerfile (FROM or installing them) that never switches to a non-root USER."""
    problems = []
    for name, path, text in _dockerfiles(extension, document):
        reason = rootful_http_server(text)
        if reason is not None:
            problems.append(Problem(f"service {name}'s HTTP server would run as root: {reason}", file=path, field="USER", fix=FIX_USER))
    return problems


def image_only_http_server_problems(extension: Extension, document: Mapping[str, Any]) -> list[Problem]:
    """An image-only nginx/httpd service: the stock images start as root."""
    problems = []
    for name, service in _services(document):
        image = service.get("image")
        if images.is_built(service) or not isinstance(image, str):
            continue
        resolved = compose.resolve_defaults(image) or image
        if is_http_server_image(resolved) and not says_unprivileged(resolved):
            problems.append(Problem(f'image-only service uses "{image}", which starts as root', file=extension.compose_path, field=f"services.{name}.image", fix=FIX_IMAGE))
    return problems


Rule = Callable[[Extension, Mapping[str, Any]], list[Problem]]

PLATFORM_RULES: tuple[tuple[str, str, Rule], ...] = (
    ("privileged-container-port", "no container port below 1024 in ports", privileged_port_problems),
    ("privileged-expose", "no Dockerfile EXPOSE below 1024", exposed_port_problems),
    ("non-root-http-server", "nginx/httpd Dockerfiles switch to a non-root USER", root_http_server_problems),
    ("image-only-http-server", "no image-only nginx/httpd service (stock images run as root)", image_only_http_server_problems),
)


def platform_problems(extension: Extension, document: Mapping[str, Any]) -> list[Problem]:
    """Every platform rule at once (the checks run them one by one)."""
    return [problem for _, _, rule in PLATFORM_RULES for problem in rule(extension, document)]
