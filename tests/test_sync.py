"""release/sync.py and `make sync-compose`, on throw-away copies of the samples."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from release import compose, extensions, sync
from release.errors import HarnessError

REPO_ROOT = Path(__file__).resolve().parent.parent
APPGARDEN = extensions.APPGARDEN_COMPOSE


def _extension(root: Path, extension_id: str) -> extensions.Extension:
    return next(e for e in extensions.discover(root) if e.id == extension_id)


def _appgarden_files(root: Path) -> dict[str, bytes]:
    return {e.id: e.appgarden_path.read_bytes() for e in extensions.discover(root) if e.appgarden_path.exists()}


def _remove_appgarden_files(root: Path) -> None:
    for extension in extensions.discover(root):
        extension.appgarden_path.unlink(missing_ok=True)


def _bump_version(root: Path, extension_id: str = "app/kaizen", version: str = "1.0.2") -> None:
    path = _extension(root, extension_id).manifest_path
    data = json.loads(path.read_text())
    data["version"] = version
    path.write_text(json.dumps(data, indent=2) + "\n")


# --- The committed files ------------------------------------------------------------------------


def test_the_committed_appgarden_files_are_what_sync_generates(sample_repo):
    results = sync.sync(extensions.discover(sample_repo), check=True)
    assert [(r.extension.id, r.status) for r in results] == [
        ("app/kaizen", sync.Status.UNCHANGED),
        ("service/service-kv", sync.Status.UNCHANGED),
        ("tool/mcp-time", sync.Status.UNCHANGED),
        ("tool/tool-text-utils", sync.Status.UNCHANGED),
    ]


def test_render_appgarden_is_the_exact_file_text(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    text = sync.render_appgarden(kaizen)
    assert text == kaizen.appgarden_path.read_text()
    assert text.startswith("# GENERATED FILE")
    assert "image: kamiwazaai/kaizen-backend:1.0.1" in text and "image: redis:7-bookworm" in text
    assert "image: kamiwazaai/kaizen-backend:1.0.1-stage" in sync.render_appgarden(kaizen, stage="stage")


def test_the_kaizen_sample_covers_the_real_world_shapes(sample_repo):
    """Anchors and merge keys, bind mounts, host-IP and interpolated ports, container_name, `sh -c`."""
    kaizen = _extension(sample_repo, "app/kaizen")
    source = kaizen.compose_path.read_text()
    for shape in ("&http-health", "<<: *http-health", "./backend/seed:", "127.0.0.1:${BACKEND_PORT", "container_name:", "- |", "condition: service_healthy"):
        assert shape in source
    garden = compose.parse_yaml(kaizen.appgarden_path.read_text())
    backend = garden["services"]["backend"]
    assert backend["ports"] == ["8000"] and "volumes" not in backend and "container_name" not in backend
    assert backend["healthcheck"]["retries"] == 30  # from the merge key
    assert garden["services"]["redis"]["command"][2] == "exec redis-server --appendonly yes --protected-mode no --bind 0.0.0.0\n"


# --- make sync-compose --------------------------------------------------------------------------


def test_sync_writes_every_file_and_a_second_run_changes_no_byte(sample_repo, run_cli):
    committed = _appgarden_files(sample_repo)
    _remove_appgarden_files(sample_repo)
    code, out, err = run_cli(sample_repo, "sync-compose")
    assert (code, err) == (0, "")
    assert "4 written" in out and "written   app/kaizen" in out
    assert _appgarden_files(sample_repo) == committed
    code, out, _ = run_cli(sample_repo, "sync-compose")
    assert code == 0 and "4 unchanged" in out
    assert _appgarden_files(sample_repo) == committed


def test_type_and_name_select_one_extension(sample_repo, run_cli):
    _remove_appgarden_files(sample_repo)
    code, out, _ = run_cli(sample_repo, "sync-compose", "--type", "tool", "--name", "tool-text-utils")
    assert code == 0 and "1 written" in out
    assert list(_appgarden_files(sample_repo)) == ["tool/tool-text-utils"]


def test_check_passes_on_the_clean_samples_and_fails_after_a_version_bump(sample_repo, run_cli):
    assert run_cli(sample_repo, "sync-compose", "--check")[0] == 0
    _bump_version(sample_repo)
    before = _appgarden_files(sample_repo)
    code, out, err = run_cli(sample_repo, "sync-compose", "--check")
    assert code == 1
    assert "stale     app/kaizen" in out and "unchanged service/service-kv" in out
    assert "-    image: kamiwazaai/kaizen-backend:1.0.1\n+    image: kamiwazaai/kaizen-backend:1.0.2\n" in out
    assert "image: redis:7-bookworm" not in [line[1:].strip() for line in out.splitlines() if line.startswith(("+", "-"))]
    assert "kaizen/docker-compose.appgarden.yml" in err and "is stale" in err and "make sync-compose" in err
    assert _appgarden_files(sample_repo) == before  # check mode writes nothing
    assert run_cli(sample_repo, "sync-compose")[0] == 0
    assert run_cli(sample_repo, "sync-compose", "--check")[0] == 0


def test_check_from_the_CHECK_variable(sample_repo, run_cli, monkeypatch):
    _bump_version(sample_repo, "tool/tool-text-utils", "1.3.0")
    monkeypatch.setenv("CHECK", "1")
    code, out, _ = run_cli(sample_repo, "sync-compose")
    assert code == 1 and "stale     tool/tool-text-utils" in out


def test_check_reports_a_missing_file(sample_repo, run_cli):
    _extension(sample_repo, "service/service-kv").appgarden_path.unlink()
    code, out, err = run_cli(sample_repo, "sync-compose", "--check")
    assert code == 1 and "+++ " in out and "service-kv/docker-compose.appgarden.yml: is missing" in err


BAD_COMPOSE = {
    "invalid-yaml": ("services:\n  backend:\n    image: redis:7\n   ports: [\n", "is not valid YAML", "docker-compose.yml:4:4:"),
    "not-a-mapping": ("- backend\n- redis\n", "is not a YAML mapping", ": is"),
    "no-services": ("volumes:\n  data:\n", "has no services", "[services]"),
    "neither-image-nor-build": ("services:\n  backend:\n    ports: ['8000']\n", "neither image nor build", "[services.backend]"),
    "port-without-default": ("services:\n  backend:\n    image: redis:7\n    ports: ['${PORT}']\n", "without a default", "[services.backend.ports[0]]"),
}


@pytest.mark.parametrize("case", BAD_COMPOSE)
def test_bad_compose_is_an_error_for_that_extension_only(sample_repo, run_cli, case):
    text, message, field = BAD_COMPOSE[case]
    kaizen = _extension(sample_repo, "app/kaizen")
    kaizen.compose_path.write_text(text)
    kaizen_before = kaizen.appgarden_path.read_bytes()
    _extension(sample_repo, "tool/tool-text-utils").appgarden_path.unlink()
    code, out, err = run_cli(sample_repo, "sync-compose")
    assert code == 2
    assert "Traceback" not in err
    assert "kaizen/docker-compose.yml" in err and message in err and field in err
    assert "error     app/kaizen" in out and "written   tool/tool-text-utils" in out
    assert kaizen.appgarden_path.read_bytes() == kaizen_before  # nothing written for it
    assert "tool/tool-text-utils" in _appgarden_files(sample_repo)  # the others still sync


def test_bad_input_with_no_previous_file_writes_none(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    kaizen.compose_path.write_text("services: []\n")
    kaizen.appgarden_path.unlink()
    [result] = sync.sync([kaizen], check=False)
    assert result.status is sync.Status.ERROR and not result.ok
    assert not kaizen.appgarden_path.exists()
    assert not list(kaizen.path.glob(".*.tmp"))


def test_a_bad_manifest_is_an_error_naming_it(sample_repo, run_cli):
    _extension(sample_repo, "app/kaizen").manifest_path.write_text('{"name": "kaizen",}')
    code, _, err = run_cli(sample_repo, "sync-compose")
    assert code == 2 and "kaizen/kamiwaza.json" in err and "not valid JSON" in err


def test_render_appgarden_raises_harness_errors(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    kaizen.compose_path.write_text("services:\n  backend: {}\n")
    with pytest.raises(HarnessError) as caught:
        sync.render_appgarden(kaizen)
    assert caught.value.problems[0].field == "services.backend"


def test_an_unknown_name_is_bad_input(sample_repo, run_cli):
    code, _, err = run_cli(sample_repo, "sync-compose", "--name", "nope")
    assert code == 2 and 'no extension is named "nope"' in err


def test_no_extensions_is_not_an_error(empty_repo, run_cli):
    code, out, _ = run_cli(empty_repo, "sync-compose", "--check")
    assert code == 0 and "nothing to sync" in out


def test_since_selects_changed_extensions_only(sample_repo, run_cli, monkeypatch):
    from release import selection

    monkeypatch.setattr(selection, "changed_files", lambda root, ref: ["extensions/tools/tool-text-utils/kamiwaza.json"])
    _remove_appgarden_files(sample_repo)
    code, out, _ = run_cli(sample_repo, "sync-compose", "--since", "HEAD~1")
    assert code == 0 and "selected tool/tool-text-utils" in out and "1 written" in out
    assert list(_appgarden_files(sample_repo)) == ["tool/tool-text-utils"]


# --- Results, presence and loading ---------------------------------------------------------------


def test_stale_result_renders_problem_and_diff(sample_repo):
    _bump_version(sample_repo)
    [result] = sync.sync([_extension(sample_repo, "app/kaizen")], check=True)
    assert result.status is sync.Status.STALE and not result.ok
    rendered = result.render()
    assert rendered.startswith("error: ") and "\n--- " in rendered and "+    image: kamiwazaai/kaizen-frontend:1.0.2" in rendered


def test_apps_must_have_an_appgarden_file(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    assert sync.presence_problems(kaizen) == []
    kaizen.appgarden_path.unlink()
    assert [p.file for p in sync.presence_problems(kaizen)] == [kaizen.appgarden_path]
    assert sync.load_appgarden(kaizen) is None


def test_other_types_need_one_only_when_they_have_a_compose_file(sample_repo):
    tool = _extension(sample_repo, "tool/tool-text-utils")
    tool.appgarden_path.unlink()
    assert sync.presence_problems(tool)
    tool.compose_path.unlink()
    assert sync.presence_problems(tool) == []


def test_load_appgarden_carries_the_manifest_version_and_allowed_mounts(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    data = json.loads(kaizen.manifest_path.read_text())
    data["validation"] = {"allowed_bind_mounts": ["./backend/seed"]}
    kaizen.manifest_path.write_text(json.dumps(data))
    garden = sync.load_appgarden(kaizen)
    assert garden.version == "1.0.1" and garden.allowed_bind_mounts == ("./backend/seed",)
    assert compose.appgarden_problems(garden) == []
    # ... and the allowed mount is then kept by the next sync
    assert "./backend/seed:/app/seed:ro" in sync.render_appgarden(kaizen)


def test_every_rule_runs_in_the_engine():
    from release import engine

    garden_rules = {rule.id for rule in engine.RULES if rule.family == "appgarden"}
    assert {rule.id for rule in compose.APPGARDEN_RULES} <= garden_rules


# --- The same drift check inside `make validate` (pytest checks/) -------------------------------


def test_validate_runs_the_drift_check_per_extension(sample_repo, run_checks):
    clean = run_checks(sample_repo)
    assert clean.returncode == 0, clean.stdout + clean.stderr
    _bump_version(sample_repo)
    stale = run_checks(sample_repo)
    assert stale.returncode == 1, stale.stdout + stale.stderr
    failed = sorted(set(re.findall(r"FAILED (\S+)", stale.stdout)))
    assert failed == ["checks/test_appgarden.py::test_appgarden[app/kaizen]"]
    assert "appgarden: 2 of" in stale.stdout and "rules failed: in-sync, project-image-version" in stale.stdout
    assert "+    image: kamiwazaai/kaizen-backend:1.0.2" in stale.stdout


# --- Drift is about content ---------------------------------------------------------------------


def _rewrite_like_other_tooling(path: Path, change=None) -> str:
    """The same document as another tool would write it: other indentation, key order, quoting, comments."""
    import yaml

    document = compose.parse_yaml(path.read_text())
    if change:
        change(document)
    reordered = dict(reversed(list(document.items())))
    text = "# written by kz-ext, not by make sync-compose\n" + yaml.safe_dump(reordered, indent=4, sort_keys=True, default_style=None)
    text = text.replace("services:\n", "services:   # the App Garden services\n", 1)
    path.write_text(text)
    return text


def test_an_equivalent_file_with_other_formatting_is_not_stale_and_is_not_rewritten(sample_repo, run_cli):
    extension = _extension(sample_repo, "app/kaizen")
    text = _rewrite_like_other_tooling(extension.appgarden_path)
    assert text != sync.render_appgarden(extension)
    assert sync.check(extension).status is sync.Status.UNCHANGED
    code, out, _ = run_cli(sample_repo, "sync-compose", "--check")
    assert code == 0 and "unchanged app/kaizen" in out
    code, out, _ = run_cli(sample_repo, "sync-compose")
    assert code == 0 and f"{len(extensions.discover(sample_repo))} unchanged" in out
    assert extension.appgarden_path.read_text() == text  # the equivalent file is left as it is


def test_a_real_difference_under_other_formatting_is_stale_with_a_diff(sample_repo, run_cli):
    extension = _extension(sample_repo, "app/kaizen")

    def drop_a_variable(document):
        service = next(iter(document["services"].values()))
        service["environment"] = {"EXTRA": "1"}

    _rewrite_like_other_tooling(extension.appgarden_path, drop_a_variable)
    result = sync.check(extension)
    assert result.status is sync.Status.STALE
    assert "+++ " in result.diff and "EXTRA" in result.diff
    code, out, _ = run_cli(sample_repo, "sync-compose")
    assert code == 0 and "written   app/kaizen" in out
    assert extension.appgarden_path.read_text() == sync.render_appgarden(extension)  # canonical text once it differs


def test_unreadable_yaml_on_disk_is_stale(sample_repo):
    extension = _extension(sample_repo, "app/kaizen")
    extension.appgarden_path.write_text("services: [unclosed\n")
    assert sync.check(extension).status is sync.Status.STALE


@pytest.mark.parametrize(
    ("current", "expected", "same"),
    [
        ("a: 1\nb: [x, y]\n", "b:\n  - x\n  - y\na: 1\n", True),
        ("# comment\na: '1'\n", "a: \"1\"\n", True),
        ("a: 1\n", "a: '1'\n", False),
        ("a: [x, y]\n", "a: [y, x]\n", False),
        (None, "a: 1\n", False),
        ("a: [\n", "a: 1\n", False),
    ],
)
def test_same_content_compares_documents(current, expected, same):
    assert sync.same_content(current, expected) is same


# --- Drift decided on documents before any text is rendered ----------------------------------------

from hypothesis import given  # noqa: E402

from tests.test_compose_properties import PROPERTY_SETTINGS, compose_documents  # noqa: E402


@PROPERTY_SETTINGS
@given(compose_documents())
def test_the_rendered_text_reads_back_as_the_document_it_was_rendered_from(case):
    # sync_one calls a committed file unchanged when its document equals the generated one,
    # without rendering: that is the old text comparison only because rendering is faithful.
    document, manifest = case
    for stage in (None, "dev", "prod"):
        garden = compose.to_appgarden(document, manifest, stage=stage)
        assert compose.parse_yaml(compose.render(garden, manifest)) == garden


def test_a_document_equal_file_in_other_formatting_is_unchanged_and_a_changed_value_is_stale(sample_repo):
    kaizen = _extension(sample_repo, "app/kaizen")
    document = compose.parse_yaml(kaizen.appgarden_path.read_text())
    kaizen.appgarden_path.write_text(json.dumps(document, indent=1) + "\n")  # JSON is YAML: same document, other text
    assert sync.check(kaizen).status is sync.Status.UNCHANGED
    document["services"]["backend"]["image"] += "-other"
    kaizen.appgarden_path.write_text(json.dumps(document, indent=1) + "\n")
    result = sync.check(kaizen)
    assert result.status is sync.Status.STALE and "-other" in result.diff
