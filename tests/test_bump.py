"""release.bump (pure) and `make bump` on throw-away copies of the fixture monorepo."""

from __future__ import annotations

import json

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from release import bump, compose, extensions, sync, versions

# --- the next version -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "part", "pre", "expected"),
    [
        ("1.0.0", "patch", None, "1.0.1"),
        ("1.0.0", "minor", None, "1.1.0"),
        ("1.0.0", "major", None, "2.0.0"),
        ("1.2.3", None, None, "1.2.4"),  # PART defaults to patch
        ("1.0.0", "patch", "rc.1", "1.0.1-rc.1"),
        ("1.0.0", "minor", "beta.1", "1.1.0-beta.1"),
        ("1.0.0", "major", "alpha", "2.0.0-alpha"),
        ("1.0.1-rc.1", "patch", None, "1.0.1"),  # finalize the pre-release
        ("1.0.1-rc.1", "patch", "rc.2", "1.0.1-rc.2"),  # the next candidate of the same release
        ("1.1.0-rc.1", "minor", None, "1.1.0"),
        ("2.0.0-rc.1", "major", None, "2.0.0"),
        ("1.0.1-rc.1", "minor", None, "1.1.0"),
        ("1.0.0+b7", "patch", None, "1.0.1"),  # build metadata is dropped
        ("1.0.0", "PATCH", None, "1.0.1"),
    ],
)
def test_next_version(current, part, pre, expected):
    assert bump.next_version(current, part, pre) == expected


@pytest.mark.parametrize("part", ["build", "prerelease", "2", "pach"])
def test_a_bad_part_is_refused_naming_PART(part):
    with pytest.raises(bump.BumpError, match="is not one of major, minor, patch") as caught:
        bump.next_version("1.0.0", part)
    assert caught.value.field == "PART"


@pytest.mark.parametrize("pre", ["rc.01", "rc..1", "-rc", "rc+1", "rc_1", "rc 1", "\u0661"])
def test_a_bad_pre_is_refused_naming_PRE(pre):
    with pytest.raises(bump.BumpError, match="not a SemVer pre-release") as caught:
        bump.next_version("1.0.0", "patch", pre)
    assert caught.value.field == "PRE"


def test_a_bump_never_goes_back():
    with pytest.raises(bump.BumpError, match="not newer") as caught:
        bump.next_version("1.0.1-rc.2", "patch", "rc.1")
    assert caught.value.field == "PRE"


def test_a_bad_current_version_is_refused():
    with pytest.raises(bump.BumpError, match="cannot be bumped"):
        bump.next_version("v1.0.0")


SEMVER = st.builds(
    lambda core, pre: ".".join(map(str, core)) + (f"-{pre}" if pre else ""),
    st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(0, 5)),
    st.one_of(st.none(), st.sampled_from(["rc.1", "rc.2", "alpha", "beta.3", "1"])),
)


@settings(max_examples=200, deadline=None)
@given(SEMVER, st.sampled_from(bump.PARTS), st.one_of(st.none(), st.sampled_from(["rc.1", "rc.3", "beta.1", "2"])))
def test_every_bump_is_newer_valid_semver_or_refused(current, part, pre):
    try:
        result = bump.next_version(current, part, pre)
    except bump.BumpError:
        assert pre is not None  # only a pre-release can fail to be newer
        return
    parsed = semver.Version.parse(result)
    assert parsed.compare(current) > 0 and parsed.build is None
    assert parsed.prerelease == pre


# --- only the version value changes -----------------------------------------------------

ODD_TEXT = (
    '{\r\n    "name" : "x",  "tags": ["version", {"version": "9.9.9"}],\r\n'
    '    "nested": {"version": "8.8.8"},\r\n'
    '    "description": "the \\"version\\" is 1.0.0",\r\n'
    '    "version"  :   "1.0.0" ,\r\n'
    '    "kamiwaza_version": ">=0.9"\r\n}'
)


def test_replace_version_keeps_every_other_byte():
    updated = bump.replace_version(ODD_TEXT, "1.0.1")
    assert updated == ODD_TEXT.replace('"version"  :   "1.0.0"', '"version"  :   "1.0.1"')
    assert json.loads(updated)["nested"] == {"version": "8.8.8"}


def test_replace_version_needs_a_top_level_version():
    with pytest.raises(bump.BumpError, match="no top-level"):
        bump.replace_version('{"nested": {"version": "1.0.0"}}', "1.0.1")


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(st.text(max_size=6), st.recursive(st.one_of(st.none(), st.integers(), st.text(max_size=6)), lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3), max_leaves=6), max_size=4),
       st.sampled_from([None, 2, 4]))
def test_replace_version_changes_only_the_version(data, indent):
    document = {**data, "version": "1.0.0"}
    text = json.dumps(document, indent=indent, ensure_ascii=False)
    assert json.loads(bump.replace_version(text, "1.0.1")) == {**document, "version": "1.0.1"}


# --- make bump ------------------------------------------------------------------------------


def _tool(root):
    return next(e for e in extensions.discover(root) if e.id == "tool/tool-text-utils")


def test_bump_rewrites_the_version_and_syncs_the_app_garden_file(sample_repo, run_cli):
    tool = _tool(sample_repo)
    before = tool.manifest_path.read_text()
    code, out, err = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils", "--part", "minor")
    assert (code, err) == (0, "")
    assert "tool-text-utils: 1.2.0 -> 1.3.0" in out
    assert tool.manifest_path.read_text() == before.replace('"version": "1.2.0"', '"version": "1.3.0"')
    assert ":1.3.0" in tool.appgarden_path.read_text()
    assert sync.check(tool).status is sync.Status.UNCHANGED


def test_bump_with_PRE_from_the_environment(sample_repo, run_cli, monkeypatch):
    monkeypatch.setenv("PART", "patch")
    monkeypatch.setenv("PRE", "rc.1")
    code, out, _ = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils")
    assert code == 0 and "1.2.0 -> 1.2.1-rc.1" in out
    monkeypatch.delenv("PRE")
    code, out, _ = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils")
    assert code == 0 and "1.2.1-rc.1 -> 1.2.1" in out
    images = [s["image"] for s in compose.parse_yaml(_tool(sample_repo).appgarden_path.read_text())["services"].values()]
    assert images and all(image.endswith(":1.2.1") for image in images)


def test_dry_run_changes_nothing(sample_repo, run_cli):
    tool = _tool(sample_repo)
    before = (tool.manifest_path.read_bytes(), tool.appgarden_path.read_bytes())
    code, out, _ = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils", "--dry-run")
    assert code == 0 and "1.2.0 -> 1.2.1" in out and "dry run" in out
    assert (tool.manifest_path.read_bytes(), tool.appgarden_path.read_bytes()) == before


@pytest.mark.parametrize(("flag", "value", "says"), [("--part", "huge", "PART"), ("--pre", "rc.01", "PRE")])
def test_bad_part_or_pre_exits_2_and_writes_nothing(sample_repo, run_cli, flag, value, says):
    tool = _tool(sample_repo)
    before = (tool.manifest_path.read_bytes(), tool.appgarden_path.read_bytes())
    code, out, err = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils", flag, value)
    assert code == 2 and f"[{says}]" in err and "Traceback" not in err
    assert (tool.manifest_path.read_bytes(), tool.appgarden_path.read_bytes()) == before


def test_bump_needs_one_extension(sample_repo, run_cli):
    code, _, err = run_cli(sample_repo, "bump", "--type", "tool")
    assert code == 2 and "[NAME]" in err and "make bump TYPE=" in err
    code, _, err = run_cli(sample_repo, "bump", "--type", "tool", "--name", "nope")
    assert code == 2 and 'no extension of TYPE tool is named "nope"' in err


def test_a_manifest_that_does_not_validate_is_not_bumped(sample_repo, run_cli):
    tool = _tool(sample_repo)
    tool.manifest_path.write_text(tool.manifest_path.read_text().replace('"1.2.0"', '"v1.2.0"'))
    before = tool.manifest_path.read_bytes()
    code, _, err = run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils")
    assert code == 2 and "$.version" in err
    assert tool.manifest_path.read_bytes() == before


def test_the_bumped_version_is_valid_semver(sample_repo, run_cli):
    run_cli(sample_repo, "bump", "--type", "tool", "--name", "tool-text-utils", "--part", "major", "--pre", "beta.1")
    assert versions.parse_version(json.loads(_tool(sample_repo).manifest_path.read_text())["version"]) == semver.Version.parse("2.0.0-beta.1")
