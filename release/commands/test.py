"""`make test TYPE=.. NAME=..` and `make test-all`: start each extension, wait for health, run its tests/.

First every built image is compared with its sources (the context digest label, see
release/context_digest.py): a stale one is rebuilt, saying so, or with NO_BUILD=1 the run
stops with "built from older sources: run make build".

TEST_PORTS=ephemeral (loopback ports picked by the engine), TEST_TIMEOUT=<s> (health wait,
default 120) and TEST_JOBS=<n> (test-all parallelism, default 4) come from the environment.
"""

from __future__ import annotations

from dataclasses import replace

import argparse
from typing import Any

from release import build as builds
from release import exttest, log
from release import report as reports
from release.commands.build import selected
from release.config import Settings, parse_flag
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError, Problem
from release.extensions import Extension


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-build", dest="NO_BUILD", action="store_true", default=None, help="never rebuild a stale image: stop instead (NO_BUILD=1)")


def run(settings: Settings, args) -> int:
    command = getattr(args, "command", "test") or "test"
    extensions = selected(settings, command, "test")
    if not extensions:
        log.info("no extensions selected; nothing to test")
        return 0
    return run_tests(settings, extensions, single=not command.endswith("-all"))


TESTS_REPORTS = "build/reports/tests"
SUMMARY_JSON = "build/reports/test-all.json"
SUMMARY_JUNIT = "build/reports/test-all.xml"


def report_rows(extensions: list[Extension], results: list[exttest.RunResult], opts: exttest.Options) -> list[reports.Result]:
    """Each extension's own tests (from its JUnit XML), plus one row for the stack run itself."""
    by_id = {r.extension: r for r in results}
    rows: list[reports.Result] = []
    for extension in extensions:
        run = by_id.get(extension.id)
        if run is None:
            continue
        junit = exttest.junit_path(opts.reports_dir, extension)
        rows += reports.results_from_junit(extension.id, junit) if junit else []
        message = run.problem.render() if run.problem else run.summary
        rows.append(reports.Result(extension.id, "make test", reports.PASSED if run.ok else reports.FAILED, "" if run.ok else message))
    return rows


def write_reports(settings: Settings, extensions: list[Extension], results: list[exttest.RunResult], opts: exttest.Options) -> None:
    rows = report_rows(extensions, results, opts)
    summary = reports.summarize(rows)
    reports.write_json(settings.root / SUMMARY_JSON, summary)
    reports.write_junit(settings.root / SUMMARY_JUNIT, "make test-all", rows)
    log.info(f"reports: {SUMMARY_JUNIT}, {SUMMARY_JSON} (per-extension JUnit XML in {TESTS_REPORTS}/)")


def run_tests(settings: Settings, extensions: list[Extension], *, single: bool = False) -> int:
    from release import docker

    opts = replace(exttest.options(settings.env), reports_dir=settings.root / TESTS_REPORTS)
    client = docker.engine()
    not_rebuilt = rebuild_stale(settings, extensions, client)
    if single and not_rebuilt:
        raise HarnessError(problems=[problem for problems in not_rebuilt.values() for problem in problems], exit_code=EXIT_FAILED)
    # test-all: an extension whose rebuild failed is reported failed; the others are still tested
    testable = [extension for extension in extensions if extension.id not in not_rebuilt]
    with log.step(f"test {log.plural(len(extensions), 'extension')}: {', '.join(e.id for e in extensions)}"):
        if single and len(extensions) == 1:
            # one extension: not ready (image missing, port taken) is bad input (exit 2)
            prepared = exttest.prepare(extensions[0], settings.env, client)
            results = [exttest.run_one(prepared, env=settings.env, client=client, opts=opts)]
        else:
            results = exttest.run_all(testable, env=settings.env, client=client, opts=opts) if testable else []
            results += [exttest.RunResult(key, False, 0.0, "rebuild failed", problems[0]) for key, problems in not_rebuilt.items()]
        log.info(log.table(exttest.RESULT_HEADERS, exttest.result_rows(results)))
        write_reports(settings, extensions, results, opts)
        exttest.raise_for_failures(results)
    return 0


def rebuild_stale(settings: Settings, extensions: list[Extension], client: Any) -> dict[str, list[Problem]]:
    """Rebuild every image built from older sources than those on disk (NO_BUILD=1: stop instead).

    Returns the extensions whose rebuild failed, with their build problems.
    """
    stale = {extension.id: builds.stale_specs(client, extension, settings.env) for extension in extensions}
    stale = {key: specs for key, specs in stale.items() if specs}
    if not stale:
        return {}
    specs = [spec for specs in stale.values() for spec in specs]
    if parse_flag("NO_BUILD", settings.get("NO_BUILD")):
        raise HarnessError(
            problems=[builds.stale_problem(spec, "make test without NO_BUILD=1 rebuilds it") for spec in specs], exit_code=EXIT_BAD_INPUT
        )
    for spec in specs:
        log.info(f"{spec.extension.id} {spec.service}: built from older sources, rebuilding")
    chosen = [extension for extension in extensions if extension.id in stale]
    with log.step(f"rebuild {log.plural(len(specs), 'stale image')}"):
        results = builds.build(settings.root, chosen, environ=settings.env, client=client, services={key: [s.service for s in specs] for key, specs in stale.items()})
        log.info(log.table(builds.SUMMARY_HEADERS, builds.summary_rows(results)))
    failed: dict[str, list[Problem]] = {}
    for result in results:
        if not result.ok and result.problem is not None:
            failed.setdefault(result.extension, []).append(result.problem)
    return failed
