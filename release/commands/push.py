"""`make push TYPE=.. NAME=.. [STAGE=dev|stage|prod] [BUILD=1] [DRY_RUN=1] [IMAGE_REGISTRY=host]`."""

from __future__ import annotations

from release import build as builds
from release import log, push
from release.commands.build import selected
from release.config import Settings
from release.errors import EXIT_BAD_INPUT, HarnessError


def run(settings: Settings, args) -> int:
    extensions = selected(settings, "push", "push")
    if not extensions:
        log.info("no extensions selected; nothing to push")
        return 0
    prefix = push.registry_prefix(settings.get("IMAGE_REGISTRY"))
    items = push.plan_all(extensions, settings.stage, prefix)
    where = push.registry_host(prefix)
    if not items:
        log.info("no service has a build context; nothing to push")
        return 0
    if settings.dry_run:
        return dry_run(settings, items, where)

    from release import docker

    client = docker.engine()
    if settings.build:
        with log.step("build before push (BUILD=1)"):
            results = builds.build(settings.root, extensions, environ=settings.env, client=client)
            log.info(log.table(builds.SUMMARY_HEADERS, builds.summary_rows(results)))
            builds.raise_for_failures(results)
    missing = push.missing_sources(client, items) or push.stale_sources(client, items, settings.env)
    if missing:
        raise HarnessError(problems=missing, exit_code=EXIT_BAD_INPUT)
    with log.step(f"push {log.plural(len(items), 'image')} to {where} (STAGE={settings.stage})"):
        results = push.push(client, items, prefix)
    log.info(log.table(push.RESULT_HEADERS, push.result_rows(results)))
    return 0


def dry_run(settings: Settings, items: list[push.PushItem], where: str) -> int:
    """Print what would be pushed; check the local images when an engine answers. Nothing changes."""
    log.info(f"DRY_RUN: would push {log.plural(len(items), 'image')} to {where} (STAGE={settings.stage}); nothing is tagged or pushed")
    if settings.build:
        log.info("DRY_RUN: would build first (BUILD=1)")
    for item in items:
        log.info(f"  would push {item.target} (from {item.source})")
    log.info(log.table(push.PLAN_HEADERS, push.plan_rows(items)))
    if settings.build:
        return 0
    from release import docker

    try:
        client = docker.engine()
    except HarnessError:
        log.warn("no Docker engine answers: the local images were not checked")
        return 0
    missing = push.missing_sources(client, items) or push.stale_sources(client, items, settings.env)
    if missing:
        raise HarnessError(problems=missing, exit_code=EXIT_BAD_INPUT)
    log.info("DRY_RUN: every local image is present and built from the current sources")
    return 0
