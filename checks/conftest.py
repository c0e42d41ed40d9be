"""The pytest view of release.engine: one test per family per extension, ids `<test>[type/name]`.

TYPE and NAME (the Makefile exports them) narrow the run to one extension, SINCE
to the extensions changed since a git ref; KAMIWAZA_ROOT points the checks at
another monorepo (default: the current folder).

The engine runs every rule; the tests only show its results, so each failing
rule is named in the failure and in build/reports/validate.json (rule id,
message, file, line, column). With GITHUB_ACTIONS=true the failing problems are
also printed as `::error file=...,line=...,col=...::` annotations.
"""

from __future__ import annotations

import os

import pytest

from checks.support import RULES_PROPERTY
from release import config as harness_config
from release import engine, extensions, selection
from release import report as reports
from release.errors import HarnessError


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = harness_config.resolve()
        chosen = selection.select(settings)
    except HarnessError as error:
        raise pytest.UsageError(error.render()) from None
    config.stash[_SELECTED] = list(chosen.extensions)
    config.stash[_REASONS] = chosen.reasons
    config.stash[_SETTINGS] = settings


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
def settings(pytestconfig: pytest.Config) -> harness_config.Settings:
    return pytestconfig.stash[_SETTINGS]


@pytest.fixture(scope="session")
def engine_repo(pytestconfig: pytest.Config):
    """The engine over the monorepo; results are computed once per extension and shared by the tests."""
    settings = pytestconfig.stash[_SETTINGS]
    return engine.Repo(settings.root, settings.env)


# Per-extension results for build/reports/validate.json and the closing table.
REPORT_FILE = "build/reports/validate.json"
_RESULTS: list[reports.Result] = []
_RULES: dict[str, dict[str, list]] = {}  # extension id -> {"passed": [rule ids], "other": [rule records]}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if not (report.when == "call" or (report.when == "setup" and not report.passed)):
        return  # the other phases say nothing the summary keeps; skip the id parsing
    parsed = reports.parse_check_id(report.nodeid)
    if parsed is None or not report.nodeid.startswith("checks/"):
        return
    outcome = reports.SKIPPED if report.skipped else (reports.PASSED if report.passed else reports.FAILED)
    message = "" if report.passed else str(report.longrepr if not report.skipped else report.longrepr[-1])
    _RESULTS.append(reports.Result(parsed[0], parsed[1], outcome, message))
    for name, value in report.user_properties:
        if name == RULES_PROPERTY:
            rules = _RULES.setdefault(parsed[0], {"passed": [], "other": []})
            rules["passed"] += value["passed"]
            rules["other"] += value["other"]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    if not _RESULTS or hasattr(config, "workerinput"):
        return
    summary = reports.summarize(_RESULTS)
    for extension_id, entry in summary["extensions"].items():
        rules = _RULES.get(extension_id, {"passed": [], "other": []})
        entry["rules"] = sorted(rules["other"], key=lambda r: (r["family"], r["rule"]))
        entry["passed_rules"] = sorted(rules["passed"])
    path = config.stash[_SETTINGS].root / REPORT_FILE
    reports.write_json(path, summary)
    terminalreporter.section("extensions")
    terminalreporter.write_line(reports.summary_table(summary))
    terminalreporter.write_line(f"JSON summary: {path}")
    if os.environ.get("GITHUB_ACTIONS") == "true":
        for line in github_annotations(summary, config.stash[_SETTINGS].root):
            terminalreporter.write_line(line)


def github_annotations(summary: dict, root) -> list[str]:
    """`::error file=...,line=...,col=...::message` for every problem of every failing rule."""
    lines = []
    for extension_id, entry in summary["extensions"].items():
        for rule in entry.get("rules", []):
            if rule["status"] != engine.FAILED:
                continue
            for problem in rule["problems"]:
                where = ",".join(
                    f"{key}={value}"
                    for key, value in (("file", problem["file"]), ("line", problem["line"]), ("col", problem["column"]))
                    if value is not None
                )
                text = f"{extension_id} {rule['family']}/{rule['rule']}: {problem['message']}"
                if problem["field"]:
                    text += f" [{problem['field']}]"
                if problem["fix"]:
                    text += f" Fix: {problem['fix']}"
                lines.append(f"::error {where}::{_escape(text)}")
    return lines


def _escape(text: str) -> str:
    # GitHub's workflow-command escaping for the message part
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
