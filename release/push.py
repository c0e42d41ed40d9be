"""`make push TYPE=.. NAME=.. [STAGE=dev|stage|prod] [BUILD=1] [DRY_RUN=1]`.

Every image the extension builds (`{repository}:{version}-dev`, made by `make build`; the
repository is `images.service_repository`'s: the declared `image:` or `kamiwazaai/{ext}-{svc}`)
is tagged for the stage and the target registry, then pushed, one tag at a time:

    STAGE=dev   -> {version}-dev     STAGE=stage -> {version}-stage     STAGE=prod -> {version}

`latest` is never pushed. IMAGE_REGISTRY names the registry (default: Docker Hub, so the
references stay `kamiwazaai/...`; `IMAGE_REGISTRY=127.0.0.1:5000` gives
`127.0.0.1:5000/kamiwazaai/...`). After each push the registry is asked for the tag and must
serve the digest that was pushed. Credentials come from the docker config (`docker login`),
and are never printed.

`plan` and `registry_prefix` are pure.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from release import build as builds
from release import images, log, manifest, sync
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError, Problem
from release.extensions import Extension

DOCKER_HUB = ("docker.io", "index.docker.io", "registry-1.docker.io")

Say = Callable[[str], None]


@dataclass(frozen=True)
class PushItem:
    extension: Extension
    service: str
    source: str  # the local build: {repository}:{version}-dev (images.service_repository)
    target: str  # [registry/]{repository}:{stage tag}


@dataclass(frozen=True)
class PushResult:
    item: PushItem
    digest: str
    seconds: float


# ----------------------------------------------------------------------------- pure planning


def registry_prefix(value: str | None) -> str:
    """IMAGE_REGISTRY -> the prefix put before `kamiwazaai/...` ("" for Docker Hub)."""
    text = (value or "").strip().rstrip("/")
    if "://" in text:
        raise HarnessError(f'IMAGE_REGISTRY="{value}" is a URL', field="IMAGE_REGISTRY", fix="give the registry host, e.g. IMAGE_REGISTRY=registry.example.com or 127.0.0.1:5000")
    namespace_suffix = f"/{images.NAMESPACE}"
    if text.endswith(namespace_suffix):  # `ghcr.io/kamiwazaai` means the registry ghcr.io
        text = text[: -len(namespace_suffix)]
    if text in ("", images.NAMESPACE, *DOCKER_HUB):
        return ""
    host = text.split("/", 1)[0]
    if not ("." in host or ":" in host or host == "localhost"):
        raise HarnessError(
            f'IMAGE_REGISTRY="{value}" is not a registry host',
            field="IMAGE_REGISTRY",
            fix="use a host with a '.' or a port (registry.example.com, 127.0.0.1:5000, localhost:5000), or leave it unset for Docker Hub",
        )
    return text


def target_ref(ref: str, prefix: str) -> str:
    """Where a reference is pushed: under IMAGE_REGISTRY, unless it names its own registry host."""
    return f"{prefix}/{ref}" if prefix and not images.is_registry_qualified(ref) else ref


def registry_host(prefix: str) -> str:
    return prefix.split("/", 1)[0] if prefix else "docker.io"


def plan(extension: Extension, parsed: manifest.Manifest, document: Mapping[str, Any], stage: str, prefix: str) -> list[PushItem]:
    """What `make push` pushes for one extension: one stage tag per built service, never latest."""
    items: list[PushItem] = []
    for service, repository in builds.built_repositories(extension, parsed, document).items():
        source = builds.local_tags(repository, parsed.version)[0]
        target = target_ref(f"{repository}:{images.stage_tag(parsed.version, stage)}", prefix)
        if images.split_ref(target)[1] in (None, images.LOCAL_ONLY_TAG):
            raise HarnessError(f"refusing to push {target}: `{images.LOCAL_ONLY_TAG}` is a local tag only", fix="push a version tag (STAGE=dev|stage|prod)")
        items.append(PushItem(extension, service, source, target))
    return items


def plan_all(extensions: Sequence[Extension], stage: str, prefix: str) -> list[PushItem]:
    items: list[PushItem] = []
    problems: list[Problem] = []
    for extension in extensions:
        try:
            items += plan(extension, *sync.load_sources(extension), stage, prefix)
        except HarnessError as error:
            problems += error.problems
    if problems:
        raise HarnessError(problems=problems)
    return items


# ----------------------------------------------------------------------------- I/O


def missing_sources(client: Any, items: Sequence[PushItem]) -> list[Problem]:
    from release import docker

    return [
        Problem(
            f'image "{item.source}" is not in the local engine',
            file=item.extension.compose_path,
            field=f"services.{item.service}",
            fix=f"run `make build TYPE={item.extension.type} NAME={item.extension.name}` first, or push with BUILD=1",
        )
        for item in items
        if docker.local_image(client, item.source) is None
    ]


def stale_sources(client: Any, items: Sequence[PushItem], environ: Mapping[str, str]) -> list[Problem]:
    """A Problem per local image built from older sources than those on disk (push would ship old code)."""
    wanted = {(item.extension.id, item.service) for item in items}
    problems: list[Problem] = []
    for extension in dict.fromkeys(item.extension for item in items):
        for spec in builds.stale_specs(client, extension, environ):
            if (extension.id, spec.service) in wanted:
                problems.append(builds.stale_problem(spec, "`make push ... BUILD=1` rebuilds before pushing"))
    return problems


def push(client: Any, items: Sequence[PushItem], prefix: str, *, say: Say = log.info) -> list[PushResult]:
    """Tag, push and verify each item; HarnessError at the first that fails."""
    from release import docker

    results: list[PushResult] = []
    for item in items:
        started = time.monotonic()
        docker.tag_image(client, item.source, item.target)
        say(f"  pushing {item.target} (from {item.source})")
        try:
            digest = docker.push_image(client, item.target)
        except docker.PushFailed as failure:
            host = registry_host(prefix)
            if failure.auth:
                raise HarnessError(
                    f"{host} refused the push of {item.target}: {failure.message}",
                    field="IMAGE_REGISTRY",
                    fix=f"log in with `docker login {host}` (credentials are read from the docker config), then push again",
                    exit_code=EXIT_BAD_INPUT,
                ) from None
            raise HarnessError(f"push of {item.target} failed: {failure.message}", field="IMAGE_REGISTRY", fix=f"check that {host} is reachable and accepts pushes, then push again", exit_code=EXIT_FAILED) from None
        served = docker.registry_digest(client, item.target)
        if served != digest:
            raise HarnessError(
                f"{registry_host(prefix)} serves {item.target} as {served}, not the pushed {digest}",
                fix="someone pushed the same tag meanwhile, or the registry rewrote it; inspect it and push again",
                exit_code=EXIT_FAILED,
            )
        local = docker.local_image(client, item.target)
        repository = images.split_ref(item.target)[0]
        if local is not None and f"{repository}@{digest}" not in local.repo_digests:
            raise HarnessError(f"the local image {item.target} does not carry the pushed digest {digest}", fix="push again", exit_code=EXIT_FAILED)
        seconds = time.monotonic() - started
        say(f"  pushed {item.target} {digest} ({seconds:.1f}s; the registry serves this digest)")
        results.append(PushResult(item, digest, seconds))
    return results


PLAN_HEADERS = ("extension", "service", "local image", "pushes")
RESULT_HEADERS = ("image", "digest", "time")


def plan_rows(items: Sequence[PushItem]) -> list[tuple[str, ...]]:
    return [(i.extension.id, i.service, i.source, i.target) for i in items]


def result_rows(results: Sequence[PushResult]) -> list[tuple[str, ...]]:
    return [(r.item.target, r.digest, f"{r.seconds:.1f}s") for r in results]
