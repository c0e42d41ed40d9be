"""`make validate` (pytest checks/) end to end on throw-away monorepos."""

import json
import re
import shutil

import pytest

from release import engine, extensions

KAIZEN = "extensions/apps/kaizen/kamiwaza.json"
TOOL = "extensions/tools/tool-text-utils"


def edit_manifest(root, relative, **changes):
    path = root / relative
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def test_samples_pass(sample_repo, run_checks):
    result = run_checks(sample_repo)
    assert result.returncode == 0, result.stdout
    assert "FAILED" not in result.stdout
    assert " passed" in result.stdout


def test_each_check_has_one_id_per_extension(sample_repo, run_checks):
    result = run_checks(sample_repo, "--collect-only")
    ids = [line for line in result.stdout.splitlines() if "::" in line]
    families = ("test_manifest", "test_compose", "test_appgarden", "test_platform")
    samples = {"app/kaizen", "service/service-kv", "tool/mcp-time", "tool/tool-text-utils"}
    assert len(ids) == len(families) * len(samples)  # one test per family per extension: the rules are named inside
    for family in families:
        assert {i.split("[", 1)[1].rstrip("]") for i in ids if f"::{family}[" in i} == samples


def break_json(root):
    (root / KAIZEN).write_text('{"name": "kaizen", "version": "1.0.1",,}')


def bad_version(root):
    edit_manifest(root, KAIZEN, version="1.0")


def bad_range(root):
    edit_manifest(root, KAIZEN, kamiwaza_version="=>0.9.0")


def tool_without_prefix(root):
    shutil.move(root / TOOL, root / "extensions/tools/text-utils")
    edit_manifest(root, "extensions/tools/text-utils/kamiwaza.json", name="text-utils")


def missing_preview(root):
    (root / "extensions/apps/kaizen/assets/kaizen.svg").unlink()


def reserved_env(root):
    edit_manifest(root, KAIZEN, env_defaults={"KAMIWAZA_API_URL": "http://x"})


def duplicate_name(root):
    shutil.copytree(root / "extensions/apps/kaizen", root / "extensions/services/kaizen")


@pytest.mark.parametrize(
    ("breakage", "failing_id", "says"),
    [
        (break_json, "app/kaizen", "kaizen/kamiwaza.json:1:"),
        (bad_version, "app/kaizen", "[$.version]"),
        (bad_range, "app/kaizen", "[$.kamiwaza_version]"),
        (tool_without_prefix, "tool/text-utils", "must start with tool- or mcp-"),
        (missing_preview, "app/kaizen", "[$.preview_image]"),
        (reserved_env, "app/kaizen", "[$.env_defaults.KAMIWAZA_API_URL]"),
        (duplicate_name, "app/kaizen", 'extension name "kaizen" is also used by service/kaizen'),
    ],
    ids=lambda value: getattr(value, "__name__", None) if callable(value) else None,
)
def test_validate_fails_naming_extension_and_field(sample_repo, run_checks, breakage, failing_id, says):
    breakage(sample_repo)
    result = run_checks(sample_repo)
    assert result.returncode == 1, result.stdout
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAILED")]
    assert any(f"[{failing_id}]" in line for line in failed), result.stdout
    assert says in result.stdout
    assert "Traceback" not in result.stdout


def test_validate_narrows_to_one_extension(sample_repo, run_checks):
    bad_version(sample_repo)
    result = run_checks(sample_repo, env={"TYPE": "tool", "NAME": "tool-text-utils"})
    assert result.returncode == 0, result.stdout
    assert "kaizen" not in result.stdout


def test_unknown_name_is_a_usage_error_listing_valid_ones(sample_repo, run_checks):
    result = run_checks(sample_repo, env={"TYPE": "app", "NAME": "nope"})
    assert result.returncode == 4
    assert "app/kaizen" in result.stderr and "Traceback" not in result.stderr


def test_validate_writes_a_json_summary_and_a_table(sample_repo, run_checks):
    bad_version(sample_repo)
    result = run_checks(sample_repo, "--junitxml", str(sample_repo / "build/reports/validate.xml"))
    summary = json.loads((sample_repo / "build/reports/validate.json").read_text())
    kaizen = summary["extensions"]["app/kaizen"]
    assert kaizen["result"] == "failed"
    failed = {c["check"]: c["message"] for c in kaizen["checks"] if c["outcome"] == "failed"}
    assert "test_manifest::test_manifest" in failed and "$.version" in failed["test_manifest::test_manifest"]
    rules = {(r["family"], r["rule"]): r for r in kaizen["rules"]}
    assert "manifest/schema" not in kaizen["passed_rules"] and "compose/host-privileges" not in kaizen["passed_rules"]
    tool = summary["extensions"]["tool/tool-text-utils"]
    assert tool["rules"] == [] and "manifest/schema" in tool["passed_rules"] and "platform/privileged-container-port" in tool["passed_rules"]
    schema = rules[("manifest", "schema")]
    assert schema["status"] == "failed"
    problem = schema["problems"][0]
    assert problem["file"] == "extensions/apps/kaizen/kamiwaza.json" and problem["field"] == "$.version"
    assert isinstance(problem["line"], int) and isinstance(problem["column"], int)
    assert rules[("compose", "host-privileges")]["status"] == "skipped"
    assert summary["extensions"]["tool/tool-text-utils"]["result"] == "passed"
    assert "app/kaizen            FAILED" in result.stdout
    junit = (sample_repo / "build/reports/validate.xml").read_text()
    assert junit.count("<testcase") == len(engine.FAMILIES) * len(extensions.discover(sample_repo))


def test_one_wrong_field_is_one_failure_and_pointed_skips(sample_repo, run_checks):
    bad_version(sample_repo)
    result = run_checks(sample_repo)
    failed = re.findall(r"^FAILED (\S+)", result.stdout, re.MULTILINE)
    assert failed == ["checks/test_manifest.py::test_manifest[app/kaizen]"], result.stdout
    assert "kamiwaza.json failed to load, see test_manifest[app/kaizen]" in result.stdout
    # the failure shows the error once (the short summary may repeat it: untruncated when CI is set)
    failures = result.stdout.split("short test summary info")[0]
    assert failures.count("[$.version]") == 1
    assert "During handling of the above exception" not in result.stdout + result.stderr


def test_github_actions_gets_annotations_with_positions(sample_repo, run_checks):
    bad_version(sample_repo)
    result = run_checks(sample_repo, env={"GITHUB_ACTIONS": "true"})
    annotations = [line for line in result.stdout.splitlines() if line.startswith("::error ")]
    assert annotations and all("file=extensions/apps/kaizen/kamiwaza.json,line=" in line and ",col=" in line for line in annotations)
    assert "$.version" in annotations[0]
