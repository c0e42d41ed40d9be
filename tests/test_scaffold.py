"""`make new`: templates rendered into new extensions that pass `make validate` at once."""

import json

import pytest

from release import extensions, scaffold


@pytest.mark.parametrize(
    ("extension_type", "name", "entrypoint"),
    [("app", "my-notes", "backend/app.py"), ("tool", "mcp-weather", "server/mcp_server.py"), ("service", "service-cache", "server/service.py")],
)
def test_new_extension_passes_validate(empty_repo, run_cli, run_checks, extension_type, name, entrypoint):
    code, out, err = run_cli(empty_repo, "new", "--type", extension_type, "--name", name)
    assert code == 0, err
    folder = empty_repo / "extensions" / f"{extension_type}s" / name
    manifest = json.loads((folder / "kamiwaza.json").read_text())
    assert (manifest["name"], manifest["template_type"]) == (name, extension_type)
    for required in ("Dockerfile", "docker-compose.yml", "tests", "kamiwaza.json", entrypoint):
        assert list(folder.rglob(required)), f"{required} missing in {folder}"
    assert not any("{{" in p.read_text() for p in folder.rglob("*") if p.is_file())
    result = run_checks(empty_repo)
    assert result.returncode == 0, result.stdout


def test_tool_template_serves_mcp_and_apps_serve_health(empty_repo, run_cli):
    run_cli(empty_repo, "new", "--type", "tool", "--name", "tool-x")
    run_cli(empty_repo, "new", "--type", "app", "--name", "app-x")
    assert '"/mcp"' in (empty_repo / "extensions/tools/tool-x/server/mcp_server.py").read_text()
    assert "8000" in (empty_repo / "extensions/tools/tool-x/server/Dockerfile").read_text()
    assert '"/health"' in (empty_repo / "extensions/apps/app-x/backend/app.py").read_text()


@pytest.mark.parametrize(
    ("extension_type", "name", "says"),
    [
        ("tool", "weather", "must start with tool- or mcp-"),
        ("service", "cache", "must start with service-"),
        ("app", "My_App", "kebab-case"),
        ("app", "", "NAME is missing"),
        ("plugin", "x", "is not an extension type"),
    ],
)
def test_bad_name_or_type_is_refused_before_anything_is_written(empty_repo, run_cli, extension_type, name, says):
    before = sorted(p.relative_to(empty_repo) for p in empty_repo.rglob("*"))
    code, out, err = run_cli(empty_repo, "new", "--type", extension_type, "--name", name)
    assert code == 2
    assert says in err and "Traceback" not in err
    assert sorted(p.relative_to(empty_repo) for p in empty_repo.rglob("*")) == before


def test_existing_extension_is_never_overwritten(sample_repo, run_cli):
    manifest = sample_repo / "extensions/apps/kaizen/kamiwaza.json"
    before = manifest.read_bytes()
    code, _, err = run_cli(sample_repo, "new", "--type", "app", "--name", "kaizen")
    assert code == 2 and "already exists" in err
    code, _, err = run_cli(sample_repo, "new", "--type", "service", "--name", "service-kv")
    assert code == 2
    assert manifest.read_bytes() == before
    assert not [p for p in (sample_repo / "extensions/apps").iterdir() if p.name.startswith(".")]


def test_display_name_is_derived_from_the_name():
    assert scaffold.display_name("tool-text-utils") == "Tool Text Utils"


def test_every_template_type_exists(empty_repo):
    for extension_type in extensions.TYPES:
        assert (empty_repo / "templates" / extension_type / "kamiwaza.json").is_file()
