"""`make build` / `make build-all`: sync-compose, then build every service that has a build context.

Planning is pure (`plan`, `built_services`, `oci_labels`, `base_images`): which images,
which tags, which labels, from the compose document and the manifest. `build` runs the
plan on the engine (release/docker.py) and returns one `ServiceResult` per service.

Names and tags come from release/images.py only (`service_repository`): `{version}-dev`
(local builds are always the dev stage) and the local-only `latest`. Every image carries the
label `ai.kamiwaza.context-digest` (release/context_digest.py); `stale_specs` finds images
built from older sources.
"""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence
from urllib.parse import urlsplit, urlunsplit

from release import compose, context_digest, images, log, manifest, sync
from release.sync import load_sources
from release.errors import EXIT_FAILED, HarnessError, Problem
from release.extensions import Extension

BUILD_STAGE = "dev"  # local builds always create the dev stage
LOG_TAIL = 25
BASE_IMAGE_NAMESPACE = "kamiwaza-base/"
FIX_BASE = "run `make base-images` (builds the local base images without pulling)"
README_OFFLINE = 'README, "Images without a registry pull"'
LABEL_CONTEXT_DIGEST = context_digest.LABEL  # sha256 of the build context, Dockerfile and build args

LABEL_VERSION = "org.opencontainers.image.version"
LABEL_SOURCE = "org.opencontainers.image.source"
LABEL_REVISION = "org.opencontainers.image.revision"
LABEL_TITLE = "org.opencontainers.image.title"
LABEL_DESCRIPTION = "org.opencontainers.image.description"
LABEL_CREATED = "org.opencontainers.image.created"


@dataclass(frozen=True)
class BuildSpec:
    """One image to build: where from and what to call it."""

    extension: Extension
    service: str
    context: Path
    dockerfile: str
    tags: tuple[str, ...]  # ({repository}:{version}-dev, {repository}:latest); images.service_repository names it
    labels: Mapping[str, str]
    buildargs: Mapping[str, str] = field(default_factory=dict)
    target: str | None = None

    @property
    def ref(self) -> str:
        return self.tags[0]

    @property
    def dockerfile_path(self) -> Path:
        return self.context / self.dockerfile


@dataclass(frozen=True)
class ServiceResult:
    extension: str  # <type>/<name>
    service: str
    ref: str
    ok: bool
    seconds: float = 0.0
    size: int = 0
    image_id: str = ""
    problem: Problem | None = None


# ----------------------------------------------------------------------------- pure planning


def built_services(document: Mapping[str, Any]) -> list[str]:
    """Names of the services built here (those with a build context), in file order."""
    return [str(name) for name, service in compose.services(document).items() if isinstance(service, Mapping) and compose.build_context(service) is not None]


def built_repositories(extension: Extension, parsed: manifest.Manifest, document: Mapping[str, Any]) -> dict[str, str]:
    """Service -> image repository of every service built here (file order), named by images.py."""
    repositories: dict[str, str] = {}
    for name in built_services(document):
        try:
            repository = images.service_repository(parsed.name, name, compose.services(document)[name])
        except images.ImageNameError as error:
            raise HarnessError(str(error), file=extension.compose_path, field=error.field, fix=error.fix) from None
        assert repository is not None  # a built service always has a project image
        repositories[name] = repository
    return repositories


def local_tags(repository: str, version: str) -> tuple[str, str]:
    """The two tags of a local build: `{version}-dev` and the local-only `latest`."""
    return f"{repository}:{images.stage_tag(version, BUILD_STAGE)}", f"{repository}:{images.LOCAL_ONLY_TAG}"


def oci_labels(
    name: str,
    service: str,
    version: str,
    source: str,
    revision: str | None,
    description: str | None = None,
    created: str | None = None,
    *,
    repository: str,
) -> dict[str, str]:
    """OCI labels of a built image (the base image's own title, description and date are replaced)."""
    labels = {
        LABEL_TITLE: repository,
        LABEL_VERSION: version,
        LABEL_SOURCE: source,
        LABEL_DESCRIPTION: description or f"{name} {service}",
    }
    if revision:
        labels[LABEL_REVISION] = revision
    if created:
        labels[LABEL_CREATED] = created
    return labels


def plan(
    extension: Extension,
    parsed: manifest.Manifest,
    document: Mapping[str, Any],
    *,
    source: str,
    revision: str | None,
    created: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[BuildSpec]:
    """Every image the extension builds. HarnessError (naming file and field) on bad input."""
    problems = compose.dockerfile_problems(document, extension.compose_path)
    if problems:
        raise HarnessError(problems=problems)
    specs: list[BuildSpec] = []
    base = extension.compose_path.parent
    repositories = built_repositories(extension, parsed, document)
    for name in built_services(document):
        service = compose.services(document)[name]
        context = compose.build_context(service) or "."
        field_name = f"services.{name}.build"
        if "://" in context or context.startswith("git@"):
            raise HarnessError(f'remote build context "{context}" is not supported', file=extension.compose_path, field=field_name, fix="build from a folder inside the extension")
        build = service.get("build") if isinstance(service.get("build"), Mapping) else {}
        target = build.get("target") if isinstance(build.get("target"), str) else None
        specs.append(
            BuildSpec(
                extension=extension,
                service=name,
                context=(base / context).resolve(),
                dockerfile=compose.dockerfile_of(service),
                tags=local_tags(repositories[name], parsed.version),
                labels=oci_labels(parsed.name, name, parsed.version, source, revision, parsed.data.get("description"), created, repository=repositories[name]),
                buildargs=build_args(build.get("args"), extension.compose_path, f"{field_name}.args", environ or {}),
                target=target,
            )
        )
    return specs


def build_args(value: Any, path: Path, field_name: str, environ: Mapping[str, str]) -> dict[str, str]:
    """Compose `build.args` (mapping or KEY=VALUE list) with `${VAR:-default}` resolved."""
    if value is None:
        return {}
    if isinstance(value, list):
        pairs = [str(item).partition("=") for item in value]
        items = {key: (val if sep else None) for key, sep, val in pairs}
    elif isinstance(value, Mapping):
        items = {str(key): (None if val is None else str(val)) for key, val in value.items()}
    else:
        raise HarnessError("build args are neither a mapping nor a list", file=path, field=field_name, fix="write `args: {KEY: value}`")
    resolved: dict[str, str] = {}
    for key, val in items.items():
        if val is None:  # `- KEY`: the value comes from the environment, or the Dockerfile's default
            if key in environ:
                resolved[key] = environ[key]
            continue
        text = _interpolate(val, environ)
        if text is None:
            raise HarnessError(f'build arg "{key}" uses a variable that is not set and has no default', file=path, field=f"{field_name}.{key}", fix="give it a default: ${VAR:-value}")
        resolved[key] = text
    return resolved


_BRACED = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?)-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def _interpolate(text: str, environ: Mapping[str, str]) -> str | None:
    missing = False

    def substitute(match: re.Match[str]) -> str:
        nonlocal missing
        name = match.group(1) or match.group(4)
        colon, default = match.group(2), match.group(3)
        value = environ.get(name)
        if value is not None and not (colon and value == ""):
            return value
        if default is not None:
            return default
        missing = True
        return ""

    result = _BRACED.sub(substitute, text.replace("$$", "\0")).replace("\0", "$")
    return None if missing else result


_ARG = re.compile(r"^\s*ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", re.IGNORECASE)


def from_images(dockerfile: str, buildargs: Mapping[str, str]) -> list[tuple[int, str]]:
    """(line, image) of every FROM that names an image (global ARG defaults and build args
    resolved; `scratch` and earlier stages left out), in file order."""
    defaults: dict[str, str] = {}
    stages: set[str] = set()
    found: list[tuple[int, str]] = []
    seen_from = False
    for number, line in instructions(dockerfile):
        arg = _ARG.match(line)
        if arg and not seen_from:
            defaults[arg.group(1)] = (arg.group(2) or "").strip("\"'")
            continue
        match = _FROM.match(line)
        if not match:
            continue
        seen_from = True
        reference = _interpolate(match.group(1), {**defaults, **buildargs}) or match.group(1)
        if reference.lower() != "scratch" and reference.lower() not in stages:
            found.append((number, reference))
        if match.group(2):
            stages.add(match.group(2).lower())
    return found


def base_images(dockerfile: str, buildargs: Mapping[str, str]) -> list[str]:
    """The images a Dockerfile builds FROM (global ARG defaults and build args resolved; stages left out)."""
    return list(dict.fromkeys(reference for _, reference in from_images(dockerfile, buildargs)))


def instructions(text: str) -> list[tuple[int, str]]:
    """Each Dockerfile instruction as (the line it starts on, its text with continuations joined).

    The classic builder numbers its steps in this order: step N is instructions(text)[N - 1].
    """
    found: list[tuple[int, str]] = []
    current, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue  # comments and blank lines, also inside a continuation, are dropped
        if not current:
            start = number
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        found.append((start, current + raw))
        current = ""
    if current:
        found.append((start, current))
    return found


def public_url(url: str) -> str:
    """A remote URL without credentials (user:token@ is never written into a label)."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url  # a path, or scp-like git@host:org/repo (no secret in it)


# ----------------------------------------------------------------------------- build log and failures

_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")
_PARSE_LINE = re.compile(r"dockerfile parse error (?:on )?line (\d+)", re.IGNORECASE)
_PULL_FAILED = re.compile(
    r"pull access denied|manifest (?:for \S+ )?(?:unknown|not found)|repository does not exist|No such image"
    r"|registry-1\.docker\.io|failed to resolve reference|lookup \S+ on \S+: no such host|error pulling image",
    re.IGNORECASE,
)
_NETWORK = re.compile(
    r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSLError|SSL: |self[- ]signed certificate|unable to get local issuer"
    r"|UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED_CERT_IN_CHAIN|Could not fetch URL|No matching distribution found"
    r"|Temporary failure in name resolution|Name or service not known|Failed to establish a new connection|Network is unreachable"
    r"|Connection refused|Read timed out|ConnectTimeoutError|Max retries exceeded|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|ECONNREFUSED"
    r"|ECONNRESET|getaddrinfo|npm ERR! network|Could not resolve host",
    re.IGNORECASE,
)
_PACKAGE_MANAGERS = re.compile(r"\b(pip3?|npm|yarn|pnpm|uv|poetry)\b")


@dataclass(frozen=True)
class Step:
    number: int
    total: int
    instruction: str


def parse_step(line: str) -> Step | None:
    """`Step 3/7 : RUN apt-get ...` (the classic builder's step header) -> Step, else None."""
    match = _STEP.match(line.strip())
    return Step(int(match.group(1)), int(match.group(2)), match.group(3).strip()) if match else None


def shorten(text: str, width: int = 72) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def progress_line(service: str, step: Step, seconds: float) -> str:
    """One line per build step, with the time since the build started."""
    return f"  {service}: step {step.number}/{step.total} {shorten(step.instruction)} ({seconds:.1f} s)"


@dataclass(frozen=True)
class Diagnosis:
    """What failed (with the Dockerfile line when known) and the fix to print."""

    message: str
    fix: str
    line: int | None = None


def diagnose(dockerfile_name: str, dockerfile_text: str, buildargs: Mapping[str, str], log_lines: Sequence[str], error: str, rebuild: str) -> Diagnosis:
    """Pure: turn a failed build's log and error into a targeted message and fix.

    A missing base image -> `make base-images` / `docker load`, naming the image; pip or npm
    failing on TLS or the network -> the README's vendored-wheels recipe; a Dockerfile error
    or a failing step -> its line.
    """
    steps = [step for step in map(parse_step, log_lines) if step is not None]
    step = steps[-1] if steps else None
    listed = instructions(dockerfile_text)
    line = listed[step.number - 1][0] if step and step.number <= len(listed) else None
    parse = _PARSE_LINE.search(error)
    if parse:
        number = int(parse.group(1))
        return Diagnosis(f"{dockerfile_name} line {number} does not parse: {error}", f"correct {dockerfile_name} line {number}, then {rebuild}", number)
    where = f"step {step.number}/{step.total} ({dockerfile_name} line {line}: {shorten(step.instruction, 60)})" if step and line else "the build"
    text = "\n".join([*log_lines[-LOG_TAIL:], error])
    if step and step.instruction.upper().startswith("FROM") and _PULL_FAILED.search(text):
        image = next((reference for number, reference in from_images(dockerfile_text, buildargs) if number == line), step.instruction.split()[-1])
        return Diagnosis(
            f"the base image {image} is not in the local engine and cannot be pulled ({error})",
            f"run `make base-images` (makes the local base images without a registry) or load {image} with `docker load -i <file>` "
            f"(an archive made by `docker save {image}` where it exists), then {rebuild}",
            line,
        )
    if _NETWORK.search(text) and (_PACKAGE_MANAGERS.search(step.instruction if step else "") or _PACKAGE_MANAGERS.search(text)):
        return Diagnosis(
            f"{where} cannot reach the package index (TLS or network): {error}",
            f"containers here cannot reach PyPI or npm: vendor the packages into the build context and install offline ({README_OFFLINE}: "
            "`pip download --only-binary=:all: --python-version 3.11 --dest <service>/wheels -r <service>/requirements.txt`, then "
            "`pip install --no-index --find-links /wheels ...` in the Dockerfile; prefer Debian's python3-<pkg>), then " + rebuild,
            line,
        )
    if line is not None:
        return Diagnosis(f"{where} failed: {error}", f"fix {dockerfile_name} line {line} (or what it uses from the context), then {rebuild}", line)
    return Diagnosis(f"the build failed: {error}", f"read the build log above, fix {dockerfile_name} or its context, then {rebuild}")


# ----------------------------------------------------------------------------- I/O


def git_info(root: Path) -> tuple[str | None, str | None, str | None]:
    """(remote URL without credentials, HEAD commit, its commit time) when `root` is a git checkout."""

    def git(*args: str) -> str | None:
        try:
            result = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            return None
        if result.returncode != 0:
            return None
        return result.stdout.strip() or None

    remote = git("config", "--get", "remote.origin.url")
    return (public_url(remote) if remote else None), git("rev-parse", "HEAD"), git("log", "-1", "--format=%cI")


def created_time(environ: Mapping[str, str], commit_time: str | None) -> str:
    """The OCI created date: SOURCE_DATE_EPOCH, else the commit's time, else now (UTC, RFC 3339)."""
    epoch = (environ.get("SOURCE_DATE_EPOCH") or "").strip()
    if epoch.isdigit():
        moment = datetime.fromtimestamp(int(epoch), tz=timezone.utc)
    elif commit_time:
        try:
            moment = datetime.fromisoformat(commit_time).astimezone(timezone.utc)
        except ValueError:
            moment = datetime.now(timezone.utc)
    else:
        moment = datetime.now(timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def source_of(extension: Extension, root: Path, remote: str | None) -> str:
    """The OCI source label: the remote (when known) and the extension's folder in it."""
    path, base = extension.path.resolve(), root.resolve()
    relative = path.relative_to(base).as_posix() if path.is_relative_to(base) else str(path)
    return f"{remote}#{relative}" if remote else relative


def sync_first(extension: Extension, say: Callable[[str], None] = log.info) -> list[Problem]:
    """Run sync-compose for the extension (writes docker-compose.appgarden.yml); its problems."""
    result = sync.sync([extension], check=False)[0]
    say(f"  sync-compose {extension.id}: {result.status.value}")
    return list(result.problems)


def build(
    root: Path,
    extensions: Sequence[Extension],
    *,
    environ: Mapping[str, str],
    client: Any | None = None,
    sync: bool = True,
    services: Mapping[str, Any] | None = None,
    say: Callable[[str], None] = log.info,
) -> list[ServiceResult]:
    """Sync, plan and build every selected extension; one result per service (failures included).

    Bad input (manifest, compose file, missing base image) of one extension is a failed
    result for it; the other extensions still build. `services` ({extension id: service
    names}) builds only those (make test rebuilding stale images).
    """
    from release import docker as engine_edge

    client = client or engine_edge.engine()
    remote, revision, commit_time = git_info(root)
    created = created_time(environ, commit_time)
    results: list[ServiceResult] = []
    for extension in extensions:
        try:
            problems = sync_first(extension, say) if sync else []
            if problems:
                raise HarnessError(problems=problems)
            parsed, document = load_sources(extension)
            specs = plan(extension, parsed, document, source=source_of(extension, root, remote), revision=revision, created=created, environ=environ)
        except HarnessError as error:
            results.append(ServiceResult(extension.id, "-", "-", False, problem=error.problems[0] if len(error.problems) == 1 else Problem("; ".join(p.render() for p in error.problems))))
            for problem in error.problems:
                say(f"  error: {problem.render()}")
            continue
        if not specs:
            say(f"  {extension.id}: no service has a build context; nothing to build")
        for spec in specs:
            if services is None or spec.service in services.get(extension.id, ()):
                results.append(build_one(client, spec, say=say))
    return results


def build_one(client: Any, spec: BuildSpec, *, say: Callable[[str], None] = log.info) -> ServiceResult:
    """Build one image, labelled with its source digest, printing one line per Dockerfile step."""
    from release import docker as engine_edge

    label = f"{spec.extension.id} {spec.service}"
    say(f"  building {label} -> {spec.ref} (+ {images.LOCAL_ONLY_TAG})")
    started = time.monotonic()
    missing_base = _missing_base_images(client, spec)
    if missing_base:
        problem = Problem(
            f'service "{spec.service}" of {spec.extension.id} builds FROM {", ".join(missing_base)}, which is not in the local engine',
            file=spec.dockerfile_path,
            field="FROM",
            fix=f"{FIX_BASE}, or load {', '.join(missing_base)} with `docker load -i <file>`",
        )
        say(f"  FAILED {label}: {problem.render()}")
        return ServiceResult(spec.extension.id, spec.service, spec.ref, False, problem=problem)

    def progress(line: str) -> None:
        step = parse_step(line)
        if step is not None:
            say(progress_line(spec.service, step, time.monotonic() - started))

    try:
        labels = {**spec.labels, LABEL_CONTEXT_DIGEST: source_digest(spec)}
        image_id, _ = engine_edge.build_image(
            client, spec.context, dockerfile=spec.dockerfile, tags=spec.tags, labels=labels, buildargs=spec.buildargs, target=spec.target, on_line=progress
        )
    except engine_edge.BuildFailed as failure:
        seconds = time.monotonic() - started
        tail = failure.log[-LOG_TAIL:]
        say(f"  FAILED {label} after {seconds:.1f}s; last {log.plural(len(tail), 'line')} of the build log:")
        for line in tail:
            say(f"    | {line}")
        try:
            text = spec.dockerfile_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = ""
        found = diagnose(spec.dockerfile, text, spec.buildargs, failure.log, failure.message, f"run `make build TYPE={spec.extension.type} NAME={spec.extension.name}`")
        problem = Problem(
            f'service "{spec.service}" of {spec.extension.id} failed to build: {found.message}',
            file=spec.dockerfile_path,
            field=f"line {found.line}" if found.line else None,
            fix=found.fix,
        )
        return ServiceResult(spec.extension.id, spec.service, spec.ref, False, seconds=seconds, problem=problem)
    seconds = time.monotonic() - started
    built = engine_edge.local_image(client, spec.ref)
    size = built.size if built else 0
    say(f"  built {spec.ref} ({format_size(size)}, {seconds:.1f}s)")
    return ServiceResult(spec.extension.id, spec.service, spec.ref, True, seconds=seconds, size=size, image_id=image_id)


def _missing_base_images(client: Any, spec: BuildSpec) -> list[str]:
    from release import docker as engine_edge

    try:
        text = spec.dockerfile_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return []  # the builder reports it, with its own words
    missing: list[str] = []
    for reference in base_images(text, spec.buildargs):
        if engine_edge.local_image(client, reference) is None:
            if reference.startswith(BASE_IMAGE_NAMESPACE):
                missing.append(reference)
            else:
                log.warn(f"{reference} is not in the local engine; the build will try to pull it (without a registry: `docker load -i <file>` it first)")
    return missing


# ----------------------------------------------------------------------------- stale images


def source_digest(spec: BuildSpec) -> str:
    """The digest of what the spec builds from (release/context_digest.py); HarnessError when unreadable."""
    try:
        return context_digest.digest(spec.context, spec.dockerfile_path, spec.buildargs, spec.target)
    except OSError as error:
        raise HarnessError(
            f"cannot read the build context of service {spec.service}: {error}", file=spec.extension.compose_path, field=f"services.{spec.service}.build", fix="make every file under the context readable"
        ) from None


def specs_of(extension: Extension, environ: Mapping[str, str]) -> list[BuildSpec]:
    """The build plan of an extension without the labels that need git (for comparing digests)."""
    parsed, document = load_sources(extension)
    return plan(extension, parsed, document, source="", revision=None, environ=environ)


def stale_specs(client: Any, extension: Extension, environ: Mapping[str, str]) -> list[BuildSpec]:
    """The services whose local `{version}-dev` image was built from other sources than those on disk.

    An image without the digest label (built by an older harness or by hand) counts as stale;
    a missing image is not stale (the callers say "not built").
    """
    from release import docker as engine_edge

    stale: list[BuildSpec] = []
    for spec in specs_of(extension, environ):
        image = engine_edge.local_image(client, spec.ref)
        if image is not None and image.labels.get(LABEL_CONTEXT_DIGEST) != source_digest(spec):
            stale.append(spec)
    return stale


def stale_problem(spec: BuildSpec, fix: str) -> Problem:
    return Problem(
        f'image "{spec.ref}" (service {spec.service}) is built from older sources: run `make build TYPE={spec.extension.type} NAME={spec.extension.name}`',
        file=spec.extension.compose_path,
        field=f"services.{spec.service}.build",
        fix=fix,
    )


def format_size(size: int) -> str:
    return f"{size / 1_000_000:.1f} MB"


def summary_rows(results: Sequence[ServiceResult]) -> list[tuple[str, ...]]:
    return [
        (r.extension, r.service, r.ref, format_size(r.size) if r.ok else "-", f"{r.seconds:.1f}s", "ok" if r.ok else "FAILED")
        for r in results
    ]


SUMMARY_HEADERS = ("extension", "service", "image", "size", "time", "result")


def raise_for_failures(results: Sequence[ServiceResult]) -> None:
    failed = [r.problem for r in results if not r.ok and r.problem is not None]
    if failed:
        raise HarnessError(problems=failed, exit_code=EXIT_FAILED)
