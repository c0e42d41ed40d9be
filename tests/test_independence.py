"""The harness's tests do not depend on what sits in extensions/.

A newcomer's first `make new`, or a half-finished or broken extension, must not turn the
harness's own tests red: only `make validate` (checks/) reports on the user's extensions.
Each test here works in a whole copy of the monorepo (`harness_copy`), changes its
extensions/ the way a user would, and runs a representative part of tests/ there.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import copy_env

pytestmark = pytest.mark.slow

# The tests that used to read extensions/ (listing, registry, sync) and the sample validate run.
REPRESENTATIVE = (
    "tests/test_list.py",
    "tests/test_extensions.py",
    "tests/test_registry.py",
    "tests/test_sync.py",
    "tests/test_validate.py::test_samples_pass",
)
SLOW_ONES = "not test_validate_runs_the_drift_check_per_extension"  # a whole `pytest checks/` per extension; covered above


def _harness_tests(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pytest", *REPRESENTATIVE, "-q", "-p", "no:cacheprovider", "-k", SLOW_ONES],
        cwd=root,
        env=copy_env(root),
        capture_output=True,
        text=True,
        timeout=900,
    )


def _make_new(root: Path, extension_type: str, name: str) -> None:
    result = subprocess.run(
        ["make", "--no-print-directory", "new", f"TYPE={extension_type}", f"NAME={name}"], cwd=root, env=copy_env(root), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (root / "extensions" / f"{extension_type}s" / name / "kamiwaza.json").is_file()


def test_harness_tests_pass_after_make_new_of_each_type(harness_copy: Path):
    for extension_type, name in (("app", "my-feature"), ("tool", "tool-my-feature"), ("service", "service-my-feature")):
        _make_new(harness_copy, extension_type, name)
    result = _harness_tests(harness_copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and " failed" not in result.stdout


def test_harness_tests_pass_with_a_broken_extension_added(harness_copy: Path, run_checks):
    broken = harness_copy / "extensions/apps/half-done"
    broken.mkdir(parents=True)
    (broken / "kamiwaza.json").write_text('{"name": "half-done", "version": "1.0",')  # broken JSON, no compose file
    (harness_copy / "extensions/tools/tool-no-manifest").mkdir()
    result = _harness_tests(harness_copy)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    # ... while checks/ does report on them (and only on them).
    checked = run_checks(harness_copy)
    assert checked.returncode == 1
    assert "app/half-done" in checked.stdout and "tool/tool-no-manifest" in checked.stdout
