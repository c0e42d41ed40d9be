"""`make ci-pipeline`: build-all, test-all, sync-compose, validate, build-registry, package-registry.

Steps run in that order and the pipeline stops at the first that fails; a table of the
steps with their time and result closes the run. Each step is the same code its make
target runs: the command modules' `run(settings, args)`, and for validate `pytest checks/`
as a subprocess (what `make validate` runs). The runner (`run_steps`) is pure over its
steps, so it is tested with fakes.
"""

from __future__ import annotations

import argparse
import importlib
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from release import checks_run, log
from release.config import Settings
from release.errors import EXIT_BAD_INPUT, EXIT_FAILED, HarnessError, report

STEP_NAMES = ("build-all", "test-all", "sync-compose", "validate", "build-registry", "package-registry")
OK, FAILED, NOT_RUN = "ok", "FAILED", "not run"


@dataclass(frozen=True)
class Step:
    name: str
    run: Callable[[], int]


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str
    seconds: float = 0.0
    code: int = 0


def run_steps(steps: Sequence[Step], *, say: Callable[[str], None] = log.info) -> list[StepResult]:
    """Run steps in order; stop at the first that fails (exit code != 0 or HarnessError)."""
    results: list[StepResult] = []
    for index, step in enumerate(steps, start=1):
        say(f"\n=== step {index}/{len(steps)}: {step.name}")
        started = time.monotonic()
        try:
            code = int(step.run() or 0)
        except HarnessError as error:
            code = report(error)
        seconds = time.monotonic() - started
        results.append(StepResult(step.name, OK if code == 0 else FAILED, seconds, code))
        if code != 0:
            results += [StepResult(rest.name, NOT_RUN) for rest in steps[index:]]
            break
    return results


def exit_code(results: Sequence[StepResult]) -> int:
    failed = [r for r in results if r.status == FAILED]
    if not failed:
        return 0
    return EXIT_BAD_INPUT if failed[0].code == EXIT_BAD_INPUT else EXIT_FAILED


def rows(results: Sequence[StepResult]) -> list[tuple[str, ...]]:
    return [(r.name, r.status, f"{r.seconds:.1f}s" if r.status != NOT_RUN else "-") for r in results]


HEADERS = ("step", "result", "time")


# ----------------------------------------------------------------------------- the real steps


def command_step(name: str, module_name: str, settings: Settings) -> Step:
    """A step that runs a command module's `run(settings, args)`, the code its make target runs."""

    def run() -> int:
        try:
            module = importlib.import_module(f"release.commands.{module_name}")
        except ModuleNotFoundError as error:
            if error.name != f"release.commands.{module_name}":
                raise
            raise HarnessError(f'the command "{name}" is not available in this version', fix="update the harness") from None
        return int(module.run(settings, argparse.Namespace(command=name)) or 0)

    return Step(name, run)


def validate_step(settings: Settings, say: Callable[[str], None] = log.info) -> Step:
    """`make validate`: pytest checks/ against the monorepo root, as a subprocess."""

    def run() -> int:
        checks = checks_run.HARNESS_ROOT / "checks"
        if not checks.is_dir():
            raise HarnessError("the harness's checks/ folder is missing", file=checks, fix="run from a full checkout of the harness")
        junit = settings.root / "build" / "reports" / "validate.xml"
        command, env = checks_run.invocation(settings.root, settings.env, f"--junitxml={junit}")
        process = subprocess.Popen(command, cwd=checks_run.HARNESS_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert process.stdout is not None
        for line in process.stdout:
            say(line.rstrip("\n"))
        return 0 if process.wait() == 0 else EXIT_FAILED

    return Step("validate", run)


def default_steps(settings: Settings) -> list[Step]:
    from release.commands import build as build_command
    from release.commands import test as test_command
    from release import selection

    def build_all() -> int:
        extensions = list(selection.select(settings).extensions)
        return build_command.run_build(settings, extensions) if extensions else 0

    def test_all() -> int:
        extensions = list(selection.select(settings).extensions)
        return test_command.run_tests(settings, extensions) if extensions else 0

    return [
        Step("build-all", build_all),
        Step("test-all", test_all),
        command_step("sync-compose", "sync_compose", settings),
        validate_step(settings),
        command_step("build-registry", "build_registry", settings),
        command_step("package-registry", "package_registry", settings),
    ]


def newest_package(root: Path) -> Path | None:
    found = sorted((root / "dist").glob("kamiwaza-registry-*.tar.gz"), key=lambda p: p.stat().st_mtime)
    return found[-1] if found else None
