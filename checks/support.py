"""How a check shows one family of the engine's results: every failing rule named, no traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from release.engine import FAILED, PASSED, SKIPPED, ExtensionResults, RuleResult
from release.errors import Problem

RULES_PROPERTY = "kamiwaza_rules"  # user property carrying the rule results to validate.json (works under xdist)


def problem_record(problem: Problem, root: Path | None = None) -> dict[str, Any]:
    file = problem.file
    if file is not None and root is not None:
        try:
            file = Path(file).resolve().relative_to(root.resolve())
        except (ValueError, OSError):
            pass
    return {
        "message": problem.message,
        "file": None if file is None else str(file),
        "field": problem.field,
        "line": problem.line,
        "column": problem.column,
        "fix": problem.fix,
    }


def rule_record(result: RuleResult, root: Path | None = None) -> dict[str, Any]:
    return {
        "family": result.family,
        "rule": result.rule_id,
        "status": result.status,
        "skipped_because": result.skipped_because,
        "problems": [problem_record(p, root) for p in result.problems],
    }


def show_family(request: pytest.FixtureRequest, results: ExtensionResults, family: str, root: Path | None = None) -> None:
    """Pass, fail (naming every failing rule and its problems) or skip (with the pointer) one family."""
    rows = results.family(family)
    # passed rules by id only: they are most rules, and their records would say nothing more
    request.node.user_properties.append((RULES_PROPERTY, {
        "passed": [f"{r.family}/{r.rule_id}" for r in rows if r.status == PASSED],
        "other": [rule_record(r, root) for r in rows if r.status != PASSED],
    }))
    failed = [r for r in rows if r.status == FAILED]
    if failed:
        header = f"{family}: {len(failed)} of {len(rows)} rules failed: {', '.join(r.rule_id for r in failed)}"
        pytest.fail("\n".join([header, *(r.render() for r in failed)]), pytrace=False)
    if rows and all(r.status == SKIPPED for r in rows):
        pytest.skip(rows[0].skipped_because or "nothing to check")
