"""release/registry.py: entries, stage tags, garden layout, schema, determinism, atomic writes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from release import extensions, fileio, images, registry, sync
from release.errors import HarnessError

EPOCH = "1700000000"  # 2023-11-14T22:13:20Z
TAGS = {"dev": "1.0.1-dev", "stage": "1.0.1-stage", "prod": "1.0.1"}


# --------------------------------------------------------------------------- fixtures (also used by test_package.py)


def write_appgarden(root: Path) -> None:
    """Re-sync every extension's App Garden file (after a test edits a manifest)."""
    results = sync.sync(extensions.discover(root), check=False)
    assert all(result.ok for result in results), [result.render() for result in results]


@pytest.fixture
def repo(sample_repo: Path) -> Path:
    """The samples (with their committed App Garden files), ready for build-registry."""
    return sample_repo


def build(root: Path, stage: str = "dev", **kwargs) -> registry.BuildResult:
    return registry.build_registry(root, stage, env={"SOURCE_DATE_EPOCH": EPOCH}, **kwargs)


def entry_named(result: registry.BuildResult, name: str) -> dict:
    return next(e for e in result.entries if e["name"] == name)


def edit_manifest(root: Path, relative: str, **changes) -> None:
    path = root / "extensions" / relative / "kamiwaza.json"
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data, indent=2))


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --------------------------------------------------------------------------- stage tags


@pytest.mark.parametrize("stage", ["dev", "stage", "prod"])
def test_entries_carry_the_exact_stage_tags(repo, stage):
    result = build(repo, stage)
    kaizen = entry_named(result, "kaizen")
    assert kaizen["docker_images"] == [
        f"kamiwazaai/kaizen-backend:{TAGS[stage]}",
        f"kamiwazaai/kaizen-frontend:{TAGS[stage]}",
        "redis:7-bookworm",
    ]
    services = yaml.safe_load(kaizen["compose_yml"])["services"]
    assert services["backend"]["image"] == f"kamiwazaai/kaizen-backend:{TAGS[stage]}"
    assert services["frontend"]["image"] == f"kamiwazaai/kaizen-frontend:{TAGS[stage]}"
    assert services["redis"]["image"] == "redis:7-bookworm"
    suffix = "" if stage == "prod" else f"-{stage}"
    assert entry_named(result, "service-kv")["docker_images"] == [f"kamiwazaai/service-kv-api:0.3.0{suffix}"]
    assert entry_named(result, "tool-text-utils")["docker_images"] == [f"kamiwazaai/tool-text-utils-mcp:1.2.0{suffix}"]
    for entry in result.entries:
        assert registry.entry_problems(entry, stage=stage) == []
    assert result.document["stage"] == stage


def test_build_metadata_uses_the_one_tag_rule(repo):
    edit_manifest(repo, "tools/tool-text-utils", version="1.2.0+build.7")
    write_appgarden(repo)
    entry = entry_named(build(repo, "prod"), "tool-text-utils")
    assert entry["docker_images"] == [f"kamiwazaai/tool-text-utils-mcp:{images.stage_tag('1.2.0+build.7', 'prod')}"]
    assert entry["docker_images"] == ["kamiwazaai/tool-text-utils-mcp:1.2.0_build.7"]


def test_a_manifest_image_field_is_tagged_and_listed(repo):
    edit_manifest(repo, "tools/tool-text-utils", image="kamiwazaai/tool-text-utils-mcp:1.2.0")
    entry = entry_named(build(repo, "stage"), "tool-text-utils")
    assert entry["image"] == "kamiwazaai/tool-text-utils-mcp:1.2.0-stage"
    assert entry["docker_images"] == ["kamiwazaai/tool-text-utils-mcp:1.2.0-stage"]


# --------------------------------------------------------------------------- layout and preview images


def test_garden_layout_and_catalogs(repo):
    result = build(repo)
    garden = repo / "build" / "kamiwaza-extension-registry" / "garden" / "v2"
    assert result.garden == garden
    assert sorted(p.name for p in garden.iterdir()) == ["apps.json", "images", "tools.json"]
    apps = json.loads((garden / "apps.json").read_text())
    tools = json.loads((garden / "tools.json").read_text())
    assert [(e["name"], e["template_type"]) for e in apps] == [("kaizen", "app"), ("service-kv", "service")]
    assert [(e["name"], e["template_type"]) for e in tools] == [("mcp-time", "tool"), ("tool-text-utils", "tool")]
    document = json.loads((repo / "build" / "registry.json").read_text())
    assert sorted(document) == ["extensions", "generated_at", "schema_version", "stage"]
    assert document["schema_version"] == registry.SCHEMA_VERSION
    assert [e["name"] for e in document["extensions"]] == ["kaizen", "mcp-time", "service-kv", "tool-text-utils"]
    assert registry.read_garden(garden) == registry.catalogs(document["extensions"]) == {"apps.json": apps, "tools.json": tools}
    assert registry.read_registry(repo / "build") == document


def test_entry_is_the_manifest_plus_the_registry_fields(repo):
    data = json.loads((repo / "extensions/apps/kaizen/kamiwaza.json").read_text())
    entry = entry_named(build(repo), "kaizen")
    assert set(entry) - set(data) == {"compose_yml", "docker_images"}
    assert {k: v for k, v in entry.items() if k in data and k != "preview_image"} == {k: v for k, v in data.items() if k != "preview_image"}


def test_preview_images_are_copied_and_rewritten(repo):
    result = build(repo)
    for entry, source in (
        ("kaizen", "apps/kaizen/assets/kaizen.svg"),
        ("service-kv", "services/service-kv/assets/service-kv.svg"),
        ("tool-text-utils", "tools/tool-text-utils/assets/tool-text-utils.svg"),
    ):
        preview = entry_named(result, entry)["preview_image"]
        assert preview == f"images/{Path(source).name}"
        assert (result.garden / preview).read_bytes() == (repo / "extensions" / source).read_bytes()


def test_url_preview_images_stay_urls(repo):
    url = "https://kamiwaza.ai/previews/text-utils.png"
    edit_manifest(repo, "tools/tool-text-utils", preview_image=url)
    result = build(repo)
    assert entry_named(result, "tool-text-utils")["preview_image"] == url
    assert sorted(p.name for p in (result.garden / "images").iterdir()) == ["kaizen.svg", "mcp-time.svg", "service-kv.svg"]


# --------------------------------------------------------------------------- schema


@pytest.mark.parametrize(
    ("corrupt", "field"),
    [
        (lambda e: e.pop("compose_yml"), "$.compose_yml"),
        (lambda e: e.update(docker_images="redis:7"), "$.docker_images"),
        (lambda e: e.update(docker_images=[]), "$.docker_images"),
        (lambda e: e.update(preview_image="assets/kaizen.svg"), "$.preview_image"),
        (lambda e: e.update(version="1.0"), "$.version"),
        (lambda e: e.update(template_type="widget"), "$.template_type"),
        (lambda e: e.pop("template_type"), "$.template_type"),
        (lambda e: e.update(risk_tier="high"), "$.risk_tier"),
    ],
)
def test_schema_rejects_a_corrupted_entry(repo, corrupt, field):
    entry = dict(entry_named(build(repo), "kaizen"))
    assert registry.entry_problems(entry) == []
    corrupt(entry)
    problems = registry.entry_problems(entry)
    assert field in [p.field for p in problems], [p.render() for p in problems]
    assert all(p.fix for p in problems)


def test_stage_check_rejects_images_of_another_stage(repo):
    entry = dict(entry_named(build(repo, "dev"), "kaizen"))
    assert registry.entry_problems(entry, stage="dev") == []
    problems = registry.entry_problems(entry, stage="prod")
    assert any("not tagged for stage prod (expected :1.0.1)" in p.message for p in problems)
    entry["docker_images"] = entry["docker_images"][:-1]
    problems = registry.entry_problems(entry, stage="dev")
    assert [p.message for p in problems] == ["docker_images differs from the images compose_yml uses (missing redis:7-bookworm)"]


def test_read_registry_refuses_a_corrupted_document(repo):
    build(repo)
    path = repo / "build" / "registry.json"
    document = json.loads(path.read_text())
    document["extensions"][0]["docker_images"][0] = "kamiwazaai/kaizen-backend:1.0.1"
    path.write_text(json.dumps(document))
    with pytest.raises(HarnessError) as caught:
        registry.read_registry(repo / "build")
    assert "make build-registry" in caught.value.render()
    assert "$.extensions[0].docker_images" in caught.value.render()


def test_document_schema_knows_the_stages():
    schema = json.loads(registry.REGISTRY_SCHEMA_PATH.read_text())
    assert tuple(schema["properties"]["stage"]["enum"]) == images.STAGES


# --------------------------------------------------------------------------- determinism and atomicity


def test_two_builds_give_identical_bytes(repo, tmp_path):
    first = build(repo, "prod", build_dir=tmp_path / "one")
    second = build(repo, "prod", build_dir=tmp_path / "two")
    assert tree_bytes(first.build_dir) == tree_bytes(second.build_dir)
    again = build(repo, "prod", build_dir=tmp_path / "one")
    assert tree_bytes(again.build_dir) == tree_bytes(second.build_dir)
    assert first.document["generated_at"] == "2023-11-14T22:13:20Z"
    raw = (first.build_dir / "registry.json").read_bytes()
    assert raw == fileio.canonical_json(json.loads(raw)) and raw.endswith(b"}\n")


def test_bad_source_date_epoch_is_refused():
    with pytest.raises(HarnessError, match="SOURCE_DATE_EPOCH"):
        registry.source_date({"SOURCE_DATE_EPOCH": "yesterday"})


def test_rebuild_replaces_the_tree_and_keeps_other_build_contents(repo):
    build(repo)
    backups = repo / "build" / "registry-backups" / "dev" / "x.json"
    backups.parent.mkdir(parents=True)
    backups.write_text("{}")
    stray = repo / "build" / "kamiwaza-extension-registry" / "garden" / "v2" / "images" / "old.png"
    stray.write_bytes(b"old")
    (repo / "build" / ".registry-staging-leftover").mkdir()
    build(repo, "prod")
    assert not stray.exists()
    assert backups.read_text() == "{}"
    assert [p.name for p in (repo / "build").iterdir() if p.name.startswith(".")] == []
    assert json.loads((repo / "build" / "registry.json").read_text())["stage"] == "prod"


def test_a_failed_write_leaves_the_previous_registry(repo, monkeypatch):
    build(repo)
    before = tree_bytes(repo / "build")

    def broken_copy(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(registry.shutil, "copyfile", broken_copy)
    with pytest.raises(HarnessError, match="No space left") as caught:
        build(repo, "prod")
    assert caught.value.exit_code == 1
    assert tree_bytes(repo / "build") == before
    assert sorted(p.name for p in (repo / "build").iterdir()) == ["kamiwaza-extension-registry", "registry.json"]


# --------------------------------------------------------------------------- bad input


def test_invalid_manifest_stops_the_build_and_writes_nothing(repo, run_cli):
    build(repo)
    before = tree_bytes(repo / "build")
    edit_manifest(repo, "apps/kaizen", version="v1.0")
    code, out, err = run_cli(repo, "build-registry", "--stage", "prod")
    assert code == 2
    assert "kamiwaza.json:" in err and "[$.version]" in err and "app/kaizen (manifest/schema)" in err and "Traceback" not in err
    assert tree_bytes(repo / "build") == before


def test_invalid_manifest_on_a_fresh_tree_creates_no_registry(repo, run_cli):
    edit_manifest(repo, "tools/tool-text-utils", risk_tier=7)
    code, _, err = run_cli(repo, "build-registry")
    assert code == 2 and "[$.risk_tier]" in err
    assert not (repo / "build" / "registry.json").exists()
    assert not (repo / "build" / "kamiwaza-extension-registry").exists()


def test_unknown_stage_is_refused(repo, run_cli):
    code, _, err = run_cli(repo, "build-registry", "--stage", "qa")
    assert code == 2 and "dev, stage, prod" in err
    with pytest.raises(HarnessError, match="dev, stage, prod"):
        registry.build_registry(repo, "qa")


def test_duplicate_preview_image_file_name_is_an_error(repo):
    shutil.copyfile(repo / "extensions/apps/kaizen/assets/kaizen.svg", repo / "extensions/tools/tool-text-utils/assets/kaizen.svg")
    edit_manifest(repo, "tools/tool-text-utils", preview_image="assets/kaizen.svg")
    with pytest.raises(HarnessError) as caught:
        build(repo)
    assert 'preview image file name "kaizen.svg" is also used by tool/tool-text-utils' in caught.value.render()
    assert not (repo / "build").exists()


def test_duplicate_name_and_version_is_an_error(repo):
    shutil.copytree(repo / "extensions/services/service-kv", repo / "extensions/apps/service-kv")
    edit_manifest(repo, "apps/service-kv", template_type="app", preview_image="assets/other.svg")
    shutil.copyfile(repo / "extensions/apps/service-kv/assets/service-kv.svg", repo / "extensions/apps/service-kv/assets/other.svg")
    with pytest.raises(HarnessError) as caught:
        build(repo)
    assert 'extension name "service-kv" is also used by app/service-kv' in caught.value.render()


def test_missing_appgarden_file_points_to_sync_compose(repo, run_cli):
    (repo / "extensions/services/service-kv/docker-compose.appgarden.yml").unlink()
    code, _, err = run_cli(repo, "build-registry")
    assert code == 2
    assert "docker-compose.appgarden.yml is missing" in err and "(appgarden/present)" in err and "make sync-compose" in err


def test_appgarden_behind_the_manifest_version_points_to_sync_compose(repo):
    edit_manifest(repo, "services/service-kv", version="0.4.0")
    with pytest.raises(HarnessError, match="make sync-compose"):
        build(repo)


def test_hand_edited_appgarden_is_stale(repo):
    path = repo / "extensions/tools/tool-text-utils/docker-compose.appgarden.yml"
    path.write_text(path.read_text() + "x-hand-edit: true\n")  # content, not only a comment: drift is about content
    with pytest.raises(HarnessError) as caught:
        build(repo)
    text = caught.value.render()
    assert "is stale" in text and "make sync-compose" in text


def test_an_empty_monorepo_gives_empty_catalogs(empty_repo, run_cli):
    code, _, err = run_cli(empty_repo, "build-registry")
    assert code == 0 and "empty" in err
    garden = registry.garden_path(empty_repo / "build")
    assert registry.read_garden(garden) == {"apps.json": [], "tools.json": []}


def test_cli_build_registry_prints_a_summary(repo, run_cli):
    code, out, _ = run_cli(repo, "build-registry", "--stage", "stage")
    assert code == 0
    assert "kamiwazaai/kaizen-backend:1.0.1-stage" in out and "build/registry.json" in out


# --------------------------------------------------------------------------- read_garden / write_garden


def test_write_garden_round_trips_and_sorts(repo, tmp_path):
    entries = build(repo).entries
    catalogs = registry.catalogs(entries)
    target = tmp_path / "garden"
    registry.write_garden(target, {name: list(reversed(items)) for name, items in catalogs.items()})
    assert registry.read_garden(target) == catalogs
    assert (target / "apps.json").read_bytes() == (registry.garden_path(repo / "build") / "apps.json").read_bytes()


def test_write_garden_validates_unless_told_not_to(repo, tmp_path):
    tool = entry_named(build(repo), "tool-text-utils")
    with pytest.raises(HarnessError, match="belongs in tools.json"):
        registry.write_garden(tmp_path / "g", {"apps.json": [tool]})
    with pytest.raises(HarnessError, match=r"\$\[0\]\.compose_yml"):
        registry.write_garden(tmp_path / "g", {"tools.json": [{**tool, "compose_yml": ""}]})
    assert not (tmp_path / "g").exists()
    registry.write_garden(tmp_path / "g", {"apps.json": [{"name": "legacy", "version": "bad"}]}, validate=False)
    assert registry.read_garden(tmp_path / "g") == {"apps.json": [{"name": "legacy", "version": "bad"}], "tools.json": []}


def test_read_garden_errors(tmp_path):
    with pytest.raises(HarnessError, match="garden folder is missing"):
        registry.read_garden(tmp_path / "absent")
    (tmp_path / "apps.json").write_text('{"not": "a list"}')
    with pytest.raises(HarnessError, match="JSON array of objects"):
        registry.read_garden(tmp_path)
    (tmp_path / "apps.json").write_text("[1,")
    with pytest.raises(HarnessError, match="not valid JSON"):
        registry.read_garden(tmp_path)


def test_catalog_for():
    assert registry.catalog_for({"template_type": "tool"}) == "tools.json"
    assert registry.catalog_for({"template_type": "service"}) == "apps.json"
    assert registry.catalog_for({"template_type": "app"}) == "apps.json"
    assert registry.CATALOG_FILES == ("apps.json", "tools.json") and registry.GARDEN_DIR == "v2"


@pytest.mark.parametrize("stage", ["dev", "stage", "prod"])
def test_compose_yml_agrees_with_sync_compose_for_the_stage(repo, stage):
    """The registry retags the committed file; sync-compose can render a stage directly: same model."""
    sync = pytest.importorskip("release.sync")
    result = build(repo, stage)
    for extension in extensions.discover(repo):
        entry = entry_named(result, extension.name)
        assert yaml.safe_load(entry["compose_yml"]) == yaml.safe_load(sync.render_appgarden(extension, stage=stage))


# --------------------------------------------------------------------------- the entry as Kamiwaza writes it


def _extension(root: Path, name: str) -> extensions.Extension:
    return next(e for e in extensions.discover(root) if e.name == name)


def test_docker_images_follow_the_compose_service_order_once_each(repo):
    staged = (
        "services:\n  zeta:\n    image: redis:7\n  alpha:\n    image: kamiwazaai/kaizen-backend:1.0.1\n"
        "  beta:\n    image: redis:7\n  gamma:\n    image: kamiwazaai/kaizen-agent:1.0.1\n"
    )
    data = json.loads((repo / "extensions/apps/kaizen/kamiwaza.json").read_text())
    entry = registry.make_entry(_extension(repo, "kaizen"), data, staged, "prod")
    assert entry["docker_images"] == ["redis:7", "kamiwazaai/kaizen-backend:1.0.1", "kamiwazaai/kaizen-agent:1.0.1"]
    assert entry["compose_yml"] == staged
    assert registry.entry_problems(entry, stage="prod") == []
    entry["docker_images"] = sorted(entry["docker_images"])
    assert [p.message for p in registry.entry_problems(entry, stage="prod")] == ["docker_images is not in the compose file's service order"]


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_compose_yml_is_exactly_the_app_garden_file_for_the_stage(repo, stage):
    entry = entry_named(build(repo, stage), "kaizen")
    assert entry["compose_yml"] == sync.render_appgarden(_extension(repo, "kaizen"), stage=stage)


def test_every_manifest_key_is_kept_and_extra_images_are_published_for_the_stage(repo):
    custom = {"optional_note": {"nested": [1, "two"]}, "display_name": "Text Utils", "env_defaults": {"LOG_LEVEL": "info"}}
    extras = ["kamiwazaai/tool-text-utils-agent:{version}", "kamiwazaai/shared:0.5.0", "ghcr.io/acme/helper:{version}", "redis:7"]
    edit_manifest(repo, "tools/tool-text-utils", extra_docker_images=extras, **custom)
    write_appgarden(repo)
    data = json.loads((repo / "extensions/tools/tool-text-utils/kamiwaza.json").read_text())
    entry = entry_named(build(repo, "stage"), "tool-text-utils")
    assert entry["extra_docker_images"] == [
        "kamiwazaai/tool-text-utils-agent:1.2.0-stage",
        "kamiwazaai/shared:1.2.0-stage",
        "ghcr.io/acme/helper:1.2.0",
        "redis:7",
    ]
    assert entry["docker_images"] == ["kamiwazaai/tool-text-utils-mcp:1.2.0-stage"]  # compose-derived only, as Kamiwaza keeps them
    changed = {"preview_image", "extra_docker_images"}
    assert {k: v for k, v in entry.items() if k in data and k not in changed} == {k: v for k, v in data.items() if k not in changed}
    entry["extra_docker_images"][0] = "kamiwazaai/tool-text-utils-agent:1.2.0"
    assert [p.field for p in registry.entry_problems(entry, stage="stage")] == ["$.extra_docker_images"]
