"""Machine-readable and one-screen reports of per-extension results.

Results are (extension id, check, outcome, message) rows; from them come a
JSON summary (build/reports/*.json) and an extension x result table for people.
`make validate` gets its JUnit XML from pytest's --junitxml; `make test-all` reads each
extension's JUnit XML back (`results_from_junit`) and writes one combined file (`write_junit`).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections import defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable

from release import fileio
from release.log import table

PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"


@dataclass(frozen=True)
class Result:
    extension: str
    check: str
    outcome: str  # passed | failed | skipped
    message: str = ""


def parse_check_id(nodeid: str) -> tuple[str, str] | None:
    """`checks/test_x.py::test_rule[app/name]` -> ("app/name", "test_x::test_rule")."""
    path, _, rest = nodeid.partition("::")
    name, bracket, param = rest.partition("[")
    if not bracket or "/" not in param:
        return None
    module = Path(path).stem
    return param.rstrip("]"), f"{module}::{name}"


def summarize(results: Iterable[Result]) -> dict:
    by_extension: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_extension[result.extension].append(result)
    extensions = {
        extension: {
            "result": _overall(rows),
            "checks": [asdict(r) | {"extension": None} for r in sorted(rows, key=lambda r: r.check)],
        }
        for extension, rows in sorted(by_extension.items())
    }
    for entry in extensions.values():
        for check in entry["checks"]:
            del check["extension"]
    totals = defaultdict(int)
    for entry in extensions.values():
        totals[entry["result"]] += 1
    return {"extensions": extensions, "totals": dict(sorted(totals.items()))}


def _overall(rows: list[Result]) -> str:
    outcomes = {r.outcome for r in rows}
    if FAILED in outcomes:
        return FAILED
    return PASSED if PASSED in outcomes else SKIPPED


def summary_table(summary: dict) -> str:
    rows = []
    for extension, entry in summary["extensions"].items():
        checks = entry["checks"]
        failed = [c["check"].split("::")[-1] for c in checks if c["outcome"] == FAILED]
        counts = f"{sum(c['outcome'] == PASSED for c in checks)}/{len(checks)}"
        rows.append((extension, entry["result"].upper(), counts, ", ".join(failed)))
    return table(("extension", "result", "passed", "failed checks"), rows)


def write_json(path: Path, summary: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fileio.write_atomically(path, fileio.canonical_json(summary))


def results_from_junit(extension: str, path: Path) -> list[Result]:
    """One Result per <testcase> of a pytest JUnit XML file (empty when absent or unreadable)."""
    try:
        tree = ElementTree.parse(path)
    except (OSError, ElementTree.ParseError):
        return []
    results = []
    for case in tree.iter("testcase"):
        name = f"{case.get('classname', '')}::{case.get('name', '')}".lstrip(":")
        failure = case.find("failure")
        if failure is None:
            failure = case.find("error")
        skipped = case.find("skipped")
        if failure is not None:
            results.append(Result(extension, name, FAILED, failure.get("message") or (failure.text or "").strip()))
        elif skipped is not None:
            results.append(Result(extension, name, SKIPPED, skipped.get("message") or ""))
        else:
            results.append(Result(extension, name, PASSED))
    return results


def write_junit(path: Path, suite: str, results: Iterable[Result]) -> None:
    """A JUnit XML file with one <testsuite> per extension."""
    root = ElementTree.Element("testsuites", name=suite)
    by_extension: dict[str, list[Result]] = defaultdict(list)
    for result in results:
        by_extension[result.extension].append(result)
    for extension, rows in sorted(by_extension.items()):
        element = ElementTree.SubElement(
            root,
            "testsuite",
            name=extension,
            tests=str(len(rows)),
            failures=str(sum(r.outcome == FAILED for r in rows)),
            skipped=str(sum(r.outcome == SKIPPED for r in rows)),
        )
        for row in rows:
            case = ElementTree.SubElement(element, "testcase", classname=extension, name=row.check)
            if row.outcome == FAILED:
                ElementTree.SubElement(case, "failure", message=row.message[:500]).text = row.message
            elif row.outcome == SKIPPED:
                ElementTree.SubElement(case, "skipped", message=row.message[:500])
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
