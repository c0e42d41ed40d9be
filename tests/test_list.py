"""`make list` / `python -m release list [--json]`: the selection, for people and for CI's matrix."""

import json
import subprocess

import pytest

ALL = ["app/kaizen", "service/service-kv", "tool/mcp-time", "tool/tool-text-utils"]


def git(root, *args):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def git_repo(sample_repo):
    git(sample_repo, "init", "-q")
    git(sample_repo, "add", "-A")
    git(sample_repo, "commit", "-qm", "base")
    return sample_repo


def ids(out):
    return [item["id"] for item in json.loads(out)["include"]]


def test_plain_list_is_one_line_per_extension(sample_repo, run_cli):
    code, out, err = run_cli(sample_repo, "list")
    assert code == 0 and err == ""
    assert out.splitlines() == [
        "app/kaizen\textensions/apps/kaizen",
        "service/service-kv\textensions/services/service-kv",
        "tool/mcp-time\textensions/tools/mcp-time",
        "tool/tool-text-utils\textensions/tools/tool-text-utils",
    ]


def test_json_is_a_one_line_github_matrix(sample_repo, run_cli):
    code, out, err = run_cli(sample_repo, "list", "--json")
    assert code == 0 and err == ""
    assert len(out.splitlines()) == 1  # fits `echo "matrix=..." >> $GITHUB_OUTPUT`
    assert json.loads(out) == {
        "include": [
            {"type": "app", "name": "kaizen", "id": "app/kaizen", "path": "extensions/apps/kaizen"},
            {"type": "service", "name": "service-kv", "id": "service/service-kv", "path": "extensions/services/service-kv"},
            {"type": "tool", "name": "mcp-time", "id": "tool/mcp-time", "path": "extensions/tools/mcp-time"},
            {"type": "tool", "name": "tool-text-utils", "id": "tool/tool-text-utils", "path": "extensions/tools/tool-text-utils"},
        ]
    }


@pytest.mark.parametrize(
    "flags, expected",
    [
        (("--type", "tool"), ["tool/mcp-time", "tool/tool-text-utils"]),
        (("--type", "app", "--name", "kaizen"), ["app/kaizen"]),
        (("--name", "service-kv"), ["service/service-kv"]),
    ],
)
def test_json_honours_type_and_name(sample_repo, run_cli, flags, expected):
    code, out, _ = run_cli(sample_repo, "list", "--json", *flags)
    assert code == 0 and ids(out) == expected


def test_json_honours_type_and_name_from_the_environment(sample_repo, run_cli, monkeypatch):
    monkeypatch.setenv("TYPE", "service")
    code, out, _ = run_cli(sample_repo, "list", "--json")
    assert code == 0 and ids(out) == ["service/service-kv"]


def test_json_with_since_prints_reasons_on_stderr_only(git_repo, run_cli):
    (git_repo / "extensions/apps/kaizen/README.md").write_text("changed\n")
    git(git_repo, "commit", "-qam", "kaizen")
    code, out, err = run_cli(git_repo, "list", "--json", "--since", "HEAD~1")
    assert code == 0
    assert ids(out) == ["app/kaizen"]
    assert "selected app/kaizen: README.md changed since HEAD~1" in err


def test_json_with_since_and_a_global_change_selects_all(git_repo, run_cli):
    (git_repo / "templates/tool/README.md").write_text("changed\n")
    code, out, err = run_cli(git_repo, "list", "--json", "--since", "HEAD")
    assert code == 0 and ids(out) == ALL
    assert "all 4 extensions: templates/tool/README.md changed" in err


def test_json_with_nothing_changed_is_an_empty_matrix(git_repo, run_cli):
    code, out, err = run_cli(git_repo, "list", "--json", "--since", "HEAD")
    assert code == 0
    assert json.loads(out) == {"include": []}
    assert "nothing changed" in err


def test_plain_list_with_since_shows_the_reasons_first(git_repo, run_cli):
    (git_repo / "extensions/tools/tool-text-utils/server/mcp_server.py").write_text("# changed\n")
    code, out, _ = run_cli(git_repo, "list", "--since", "HEAD")
    assert code == 0
    assert out.splitlines() == [
        "selected tool/tool-text-utils: server/mcp_server.py changed since HEAD",
        "tool/tool-text-utils\textensions/tools/tool-text-utils",
    ]


def test_unknown_type_is_bad_input(sample_repo, run_cli):
    code, out, err = run_cli(sample_repo, "list", "--json", "--type", "widget")
    assert code == 2 and out == ""
    assert 'unknown TYPE "widget"' in err and "Traceback" not in err


def test_unknown_since_ref_is_bad_input(git_repo, run_cli):
    code, out, err = run_cli(git_repo, "list", "--json", "--since", "no-such-ref")
    assert code == 2 and out == ""
    assert "SINCE" in err
