import subprocess

import pytest

from release import config, selection
from release.errors import HarnessError


def git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def git_repo(sample_repo):
    git(sample_repo, "init", "-q")
    git(sample_repo, "-c", "user.email=t@t", "-c", "user.name=t", "add", "-A")
    git(sample_repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qm", "base")
    return sample_repo


def selected(root, since="HEAD", **env):
    result = selection.select(config.resolve({"SINCE": since, **env}, root=root, environ={}))
    return [e.id for e in result.extensions], result.reasons


def test_nothing_changed_selects_nothing(git_repo):
    assert selected(git_repo) == ([], ())


def test_changed_file_selects_its_extension_with_a_reason(git_repo):
    (git_repo / "extensions/tools/tool-text-utils/server/mcp_server.py").write_text("# changed\n")
    ids, reasons = selected(git_repo)
    assert ids == ["tool/tool-text-utils"]
    assert reasons == ("tool/tool-text-utils: server/mcp_server.py changed since HEAD",)


def test_untracked_and_committed_changes_count(git_repo):
    (git_repo / "extensions/services/service-kv/NOTES.md").write_text("new\n")
    (git_repo / "extensions/apps/kaizen/README.md").write_text("changed\n")
    git(git_repo, "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-qam", "kaizen")
    assert selected(git_repo, since="HEAD~1")[0] == ["app/kaizen", "service/service-kv"]


def test_template_change_selects_all(git_repo):
    (git_repo / "templates/app/README.md").write_text("changed\n")
    ids, reasons = selected(git_repo)
    assert len(ids) == 4 and "templates/app/README.md" in reasons[0]


def test_since_combines_with_type(git_repo):
    (git_repo / "templates/app/README.md").write_text("changed\n")
    assert selected(git_repo, TYPE="tool")[0] == ["tool/mcp-time", "tool/tool-text-utils"]


def test_unknown_ref_is_a_clear_error(git_repo):
    with pytest.raises(HarnessError, match="SINCE"):
        selected(git_repo, since="no-such-ref")


def test_pure_rule_on_paths(sample_repo):
    from release import extensions

    candidates = extensions.discover(sample_repo)
    result = selection.changed_only(candidates, ["extensions/apps/kaizen/x", "extensions/apps/kaizen-old/y", "docs/z"], sample_repo, "main")
    assert [e.id for e in result.extensions] == ["app/kaizen"]
    assert "x and" not in result.reasons[0]
