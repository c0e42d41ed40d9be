"""`make doctor`: is this machine ready to build, push and publish? One line per check.

Each check is a small function returning a `Check(name, ok, detail, fix)`; `ok` is True,
False, or None (skipped: not configured, or a check it needs failed). A failed check that
is `required` makes the exit code 1. What is checked:

    Docker engine          the docker SDK's ping (DOCKER_HOST)
    Compose v2             `docker compose version`
    base images            the refs scripts/base-images.sh makes (DEBIAN_SUITE, default bookworm)
    image registry         reachable (the engine asks it, as publish's image check does) and
                           logged in (the docker config has credentials for IMAGE_REGISTRY)
    settings <stage>       the .env settings of every stage (release/s3.resolve_target);
                           required for the selected STAGE, skipped for unconfigured others
    bucket <stage>         for every configured stage: reachable with the credentials (a listing
                           of the registry prefix)
    conditional writes     s3.Remote.probe_conditional_writes: a probe object that is always deleted

Nothing else is written anywhere.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from release import images, image_check, push, s3
from release.config import Settings
from release.errors import EXIT_FAILED, EXIT_OK, HarnessError

DEFAULT_SUITE = "bookworm"
PROBE_IMAGE = f"{images.NAMESPACE}/doctor-probe:0.0.0"  # never pushed: asking for it shows whether the registry answers


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool | None  # None: skipped
    detail: str
    fix: str = ""
    required: bool = True

    @property
    def status(self) -> str:
        return "skip" if self.ok is None else ("ok" if self.ok else "FAIL")

    @property
    def failed(self) -> bool:
        return self.ok is False and self.required

    def line(self, width: int = 24) -> str:
        text = f"{self.status:<5} {self.name:<{width}} {self.detail}"
        if self.ok is not True and self.fix:
            text += f" -> fix: {self.fix}"
        return text


def _first(error: HarnessError) -> tuple[str, str]:
    problem = error.problems[0]
    return problem.message, problem.fix or ""


# --------------------------------------------------------------------------- Docker


def docker_engine() -> tuple[Check, Any]:
    from release import docker as engine_edge

    try:
        client = engine_edge.engine()
    except HarnessError as error:
        message, fix = _first(error)
        return Check("Docker engine", False, message, fix), None
    version = (client.version() or {}).get("Version", "?")
    return Check("Docker engine", True, f"Docker {version} answers at {client.api.base_url}"), client


def compose_v2(run: Callable[..., subprocess.CompletedProcess[str]] = subprocess.run) -> Check:
    from release import docker as engine_edge

    try:
        done = run([engine_edge.docker_cli(), "compose", "version", "--short"], capture_output=True, text=True, timeout=30)
    except HarnessError as error:
        message, fix = _first(error)
        return Check("Compose v2", False, message, fix)
    except (OSError, subprocess.TimeoutExpired) as error:
        return Check("Compose v2", False, f"`docker compose version` failed: {error}", engine_edge.INSTALL_COMPOSE)
    version = done.stdout.strip().lstrip("v")
    if done.returncode != 0 or not version:
        return Check("Compose v2", False, f"`docker compose` is not available ({' '.join((done.stderr or done.stdout).split())[:160]})", engine_edge.INSTALL_COMPOSE)
    if not version.split(".")[0].isdigit() or int(version.split(".")[0]) < 2:
        return Check("Compose v2", False, f"docker compose {version} is older than v2", engine_edge.INSTALL_COMPOSE)
    return Check("Compose v2", True, f"docker compose {version}")


def base_image_refs(settings: Settings) -> tuple[str, ...]:
    """What scripts/base-images.sh makes (its PYTHON_IMAGE and REDIS_IMAGE for DEBIAN_SUITE)."""
    suite = settings.get("DEBIAN_SUITE") or DEFAULT_SUITE
    return (f"kamiwaza-base/python:{suite}", f"redis:7-{suite}")


def base_images(client: Any, refs: Sequence[str]) -> Check:
    from release import docker as engine_edge

    if client is None:
        return Check("base images", None, "needs the Docker engine", "start the engine first")
    missing = [ref for ref in refs if engine_edge.local_image(client, ref) is None]
    if missing:
        return Check("base images", False, f"missing {', '.join(missing)}", "run `make base-images` (no registry pull)")
    return Check("base images", True, ", ".join(refs))


# --------------------------------------------------------------------------- the image registry


def registry_checks(client: Any, settings: Settings) -> list[Check]:
    """Reachable (the engine asks it for a tag that is never pushed), then logged in (docker config credentials)."""
    try:
        prefix = push.registry_prefix(settings.get("IMAGE_REGISTRY"))
    except HarnessError as error:
        message, fix = _first(error)
        return [Check("image registry", False, message, fix)]
    host = push.registry_host(prefix)
    setting = f"IMAGE_REGISTRY={prefix}" if prefix else "IMAGE_REGISTRY unset: Docker Hub"
    if client is None:
        return [Check("image registry", None, f"{host}: needs the Docker engine", "start the engine first")]
    try:
        _, denied = image_check.lookup(client, [PROBE_IMAGE], prefix)
    except HarnessError as error:
        message, fix = _first(error)
        where = f"start the registry at {host}, or correct IMAGE_REGISTRY in .env" if prefix else "check the network (Docker Hub), or set IMAGE_REGISTRY in .env to your registry"
        return [Check("image registry", False, message, where),
                Check("registry login", None, "needs a reachable registry", "")]
    reachable = Check("image registry", True, f"{host} answers ({setting})")
    credentials = has_credentials(host)
    login = f"`docker login {host}`" if prefix else "`docker login`"
    if not credentials:
        return [reachable, Check("registry login", False, f"the docker config has no credentials for {host}", f"run {login} (pushes and the publish image check use them)")]
    if prefix and denied:  # a private registry answers 404 for an unknown tag once the credentials are accepted
        return [reachable, Check("registry login", False, f"{host} refuses the docker config's credentials ({denied[PROBE_IMAGE]})", f"run {login} again")]
    return [reachable, Check("registry login", True, f"the docker config has credentials for {host}")]


def has_credentials(host: str) -> bool:
    """The docker config (DOCKER_CONFIG or ~/.docker) holds credentials for `host` (auths, credHelpers or credsStore)."""
    from docker import auth

    try:
        config = auth.load_config()
        return bool(auth.resolve_authconfig(config, None if host == "docker.io" else host))
    except Exception:  # a broken credential helper: no usable credentials  # noqa: BLE001
        return False


# --------------------------------------------------------------------------- stages and buckets


def stage_settings(settings: Settings, stage: str) -> tuple[Check, s3.Target | None]:
    """The stage's bucket, profile or endpoint; required for the selected STAGE only."""
    required = stage == settings.stage
    try:
        target = s3.resolve_target(settings, stage)
    except HarnessError as error:
        message, fix = _first(error)
        if required:
            return Check(f"settings {stage}", False, message, fix), None
        bucket, _ = s3.bucket_variables(stage)
        return Check(f"settings {stage}", None, f"not configured (optional unless STAGE={stage})",
                     f"to publish to {stage}, set {bucket} and {s3.profile_variable(stage)} (or KAMIWAZA_REGISTRY_ENDPOINT) in .env", required=False), None
    return Check(f"settings {stage}", True, target.describe(), required=required), target


def bucket_checks(settings: Settings, target: s3.Target, *, required: bool = True) -> list[Check]:
    name = f"bucket {target.stage}"
    try:
        remote = s3.Remote(s3.make_client(target, settings.env), target)
        count = len(remote.list())
    except HarnessError as error:
        message, fix = _first(error)
        return [Check(name, False, message, fix, required=required),
                Check(f"conditional writes {target.stage}", None, "needs a reachable bucket", "", required=required)]
    checks = [Check(name, True, f"{target.url()} reachable, credentials accepted ({count} registry objects)", required=required)]
    try:
        remote.probe_conditional_writes()
    except HarnessError as error:
        message, fix = _first(error)
        checks.append(Check(f"conditional writes {target.stage}", False, message, fix, required=required))
    else:
        checks.append(Check(f"conditional writes {target.stage}", True, "If-None-Match and If-Match are honoured (probe object deleted)", required=required))
    return checks


# --------------------------------------------------------------------------- all of it


def run_checks(settings: Settings, *, say: Callable[[Check], None] = lambda check: None) -> list[Check]:
    """Every check in screen order; `say` is called as each one finishes."""
    done: list[Check] = []

    def add(*checks: Check) -> None:
        for check in checks:
            done.append(check)
            say(check)

    engine, client = docker_engine()
    add(engine)
    add(compose_v2())
    add(base_images(client, base_image_refs(settings)))
    add(*registry_checks(client, settings))
    for stage in images.STAGES:
        check, target = stage_settings(settings, stage)
        add(check)
        if target is not None:
            add(*bucket_checks(settings, target))  # a configured stage is meant to be used: its bucket must work
    return done


def exit_code(checks: Sequence[Check]) -> int:
    return EXIT_FAILED if any(check.failed for check in checks) else EXIT_OK
