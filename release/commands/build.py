"""`make build TYPE=.. NAME=..` and `make build-all`: sync-compose, then build the images."""

from __future__ import annotations

from release import build, log, selection
from release.config import Settings
from release.errors import HarnessError
from release.extensions import Extension


def selected(settings: Settings, command: str, verb: str) -> list[Extension]:
    """build/test/push need one extension (NAME); the *-all forms, and push with SINCE, take every selected one."""
    takes_many = command.endswith("-all") or (command == "push" and settings.since is not None)
    if not takes_many and not settings.extension_name:
        raise HarnessError(
            f"make {command} needs NAME (and TYPE)",
            field="NAME",
            fix=f"run `make {command} TYPE=app NAME=my-app` (see `make list`)" + (f", or `make {command}-all` to {verb} every extension" if command in ("build", "test") else ""),
        )
    chosen = selection.select(settings)
    if chosen.reasons:
        log.info(selection.describe(chosen))
    return list(chosen.extensions)


def run(settings: Settings, args) -> int:
    command = getattr(args, "command", "build") or "build"
    extensions = selected(settings, command, "build")
    if not extensions:
        log.info("no extensions selected; nothing to build")
        return 0
    return run_build(settings, extensions)


def run_build(settings: Settings, extensions: list[Extension]) -> int:
    from release import docker

    client = docker.engine()  # before any work: no engine is a clear error, not a half build
    with log.step(f"build {log.plural(len(extensions), 'extension')}: {', '.join(e.id for e in extensions)}"):
        results = build.build(settings.root, extensions, environ=settings.env, client=client)
        log.info(log.table(build.SUMMARY_HEADERS, build.summary_rows(results)))
        build.raise_for_failures(results)
    return 0
