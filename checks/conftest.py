"""Parametrize every check over the selected extensions: one test id per `<type>/<name>`.

TYPE and NAME (the Makefile exports them) narrow the run to one extension, SINCE
to the extensions changed since a git ref;
KAMIWAZA_ROOT points the checks at another monorepo (default: the current folder).
"""

from __future__ import annotations

import pytest

from release import config as harness_config
from release import extensions, monorepo, selection
from release import report as reports
from release.errors import HarnessError


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = harness_config.resolve()
        repo = monorepo.load(settings.root)
        chosen = selection.select(settings)
    except HarnessError as error:
        raise pytest.UsageError(error.render()) from None
    config.stash[_REPO] = repo
    config.stash[_SELECTED] = list(chosen.extensions)
    config.stash[_REASONS] = chosen.reasons
    config.stash[_SETTINGS] = settings


_REPO = pytest.StashKey[monorepo.Monorepo]()
_SELECTED = pytest.StashKey[list[extensions.Extension]]()
_SETTINGS = pytest.StashKey[harness_config.Settings]()
_REASONS = pytest.StashKey[tuple]()


def pytest_report_header(config: pytest.Config) -> list[str]:
    settings = config.stash[_SETTINGS]
    lines = [f"monorepo: {settings.root} ({len(config.stash[_SELECTED])} extensions selected)"]
    if settings.since:
        lines += [f"  {line}" for line in selection.describe(selection.Selection((), config.stash[_REASONS])).splitlines()]
    return lines


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "extension" in metafunc.fixturenames:
        selected = metafunc.config.stash[_SELECTED]
        metafunc.parametrize("extension", selected, ids=[e.id for e in selected])


@pytest.fixture(scope="session")
def repo(pytestconfig: pytest.Config) -> monorepo.Monorepo:
    return pytestconfig.stash[_REPO]


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> harness_config.Settings:
    return pytestconfig.stash[_SETTINGS]



# Per-extension results for build/reports/validate.json and the closing table.
REPORT_FILE = "build/reports/validate.json"
_RESULTS: list[reports.Result] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return  # the other phases say nothing the summary keeps; skip the id parsing
    parsed = reports.parse_check_id(report.nodeid)
    if parsed is None or not report.nodeid.startswith("checks/"):
        return
    outcome = reports.SKIPPED if report.skipped else (reports.PASSED if report.passed else reports.FAILED)
    message = "" if report.passed else str(report.longrepr if not report.skipped else report.longrepr[-1])
    _RESULTS.append(reports.Result(parsed[0], parsed[1], outcome, message))


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _RESULTS or hasattr(config, "workerinput"):
        return
    summary = reports.summarize(_RESULTS)
    path = config.stash[_SETTINGS].root / REPORT_FILE
    reports.write_json(path, summary)
    terminalreporter.section("extensions")
    terminalreporter.write_line(reports.summary_table(summary))
    terminalreporter.write_line(f"JSON summary: {path}")
