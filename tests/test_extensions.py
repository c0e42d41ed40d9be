import pytest

from release import extensions
from release.errors import HarnessError


def test_discovery_lists_type_name_and_path_sorted(sample_repo):
    found = extensions.discover(sample_repo)
    assert [(e.type, e.name) for e in found] == [("app", "kaizen"), ("service", "service-kv"), ("tool", "mcp-time"), ("tool", "tool-text-utils")]
    assert all(e.path == sample_repo / "extensions" / f"{e.type}s" / e.name for e in found)
    assert found[0].id == "app/kaizen"


def test_hidden_and_stray_entries_are_ignored(sample_repo):
    (sample_repo / "extensions" / "apps" / ".cache").mkdir()
    (sample_repo / "extensions" / "apps" / "notes.txt").write_text("x")
    assert [e.name for e in extensions.discover(sample_repo)] == ["kaizen", "service-kv", "mcp-time", "tool-text-utils"]


def test_folder_without_manifest_is_still_listed(sample_repo):
    (sample_repo / "extensions" / "tools" / "tool-empty").mkdir()
    assert "tool-empty" in [e.name for e in extensions.discover(sample_repo)]


def test_select_by_type_and_name(sample_repo):
    found = extensions.discover(sample_repo)
    assert [e.name for e in extensions.select(found, "tool")] == ["mcp-time", "tool-text-utils"]
    assert [e.id for e in extensions.select(found, None, "kaizen")] == ["app/kaizen"]
    assert extensions.select(found) == found


def test_unknown_type_lists_valid_types(sample_repo):
    with pytest.raises(HarnessError) as caught:
        extensions.select(extensions.discover(sample_repo), "plugin")
    assert "app, tool, service" in caught.value.render()


def test_unknown_name_lists_valid_names(sample_repo):
    with pytest.raises(HarnessError) as caught:
        extensions.select(extensions.discover(sample_repo), "app", "nope")
    text = caught.value.render()
    assert '"nope"' in text and "app/kaizen" in text and "tool/" not in text
