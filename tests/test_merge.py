"""release.merge: the spec's table, the UNCHANGED refinement, properties, and `python -m release merge`."""

from __future__ import annotations

import json
import random

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from release import merge, ranges
from release.errors import HarnessError
from release.merge import Action


def entry(name="kaizen", version="1.0.0", kamiwaza_version=">=0.9.0,<1.0.0", **extra):
    return {"name": name, "version": version, "kamiwaza_version": kamiwaza_version, **extra}


def decide(remote, local, **kwargs):
    result = merge.plan(remote, local, **kwargs)
    return result, [d.action for d in result.decisions]


# --- the spec's table, one row each --------------------------------------------------

SPEC_TABLE = [
    # scenario, remote, local, action
    ("new extension", [], entry(), Action.INSERT),
    ("newer version, same kamiwaza_version", [entry()], entry(version="1.0.1"), Action.REPLACE),
    ("same version, same kamiwaza_version", [entry()], entry(description="changed"), Action.FAIL),
    ("older version", [entry(version="1.2.0")], entry(version="1.1.0"), Action.FAIL),
    ("disjoint kamiwaza_version range", [entry()], entry(version="2.0.0", kamiwaza_version=">=1.0.0"), Action.INSERT),
    ("superset kamiwaza_version", [entry()], entry(version="1.1.0", kamiwaza_version=">=0.9.0"), Action.REPLACE),
    ("subset kamiwaza_version", [entry()], entry(version="1.1.0", kamiwaza_version=">=0.9.5,<1.0.0"), Action.FAIL),
    ("partial overlap", [entry()], entry(version="1.1.0", kamiwaza_version=">=0.9.5,<1.1.0"), Action.FAIL),
]


@pytest.mark.parametrize(("scenario", "remote", "local", "action"), SPEC_TABLE, ids=[row[0] for row in SPEC_TABLE])
def test_spec_table(scenario, remote, local, action):
    result, actions = decide(remote, [local])
    assert actions == [action]
    reason = result.decisions[0].reason
    assert reason and "{" not in reason
    if action is Action.FAIL:
        assert list(result.merged) == remote, "a FAIL changes nothing"
    elif action is Action.REPLACE:
        assert list(result.merged) == [local]
    else:
        assert local in result.merged and all(r in result.merged for r in remote)


def test_reasons_speak_to_a_person():
    reasons = {scenario: merge.plan(remote, [local]).decisions[0].reason for scenario, remote, local, _ in SPEC_TABLE}
    assert reasons["new extension"] == "first publish of kaizen"
    assert "immutable" in reasons["same version, same kamiwaza_version"] and "description" in reasons["same version, same kamiwaza_version"]
    assert "downgrade" in reasons["older version"]
    assert "coexist" in reasons["disjoint kamiwaza_version range"]
    assert "expands support" in reasons["superset kamiwaza_version"]
    assert "narrower" in reasons["subset kamiwaza_version"] and ">=0.9.0,<0.9.5" in reasons["subset kamiwaza_version"]
    assert "ambiguous" in reasons["partial overlap"]


def test_identical_entry_is_unchanged():
    published = entry(compose_yml="services: {}")
    result, actions = decide([published], [dict(published)])
    assert actions == [Action.UNCHANGED]
    assert list(result.merged) == [published]
    assert result.ok and not result.changes


def test_unmentioned_remote_entries_are_kept():
    other = entry(name="other", version="3.0.0", kamiwaza_version="")
    result, actions = decide([other, entry()], [entry(version="1.0.1")])
    assert actions == [Action.REPLACE]
    assert other in result.merged and entry() not in result.merged


def test_decided_only_against_overlapping_remote_entries():
    old_line = entry(version="1.0.0", kamiwaza_version="<1.0.0")
    new_line = entry(version="2.0.0", kamiwaza_version=">=1.0.0")
    # a backport for old Kamiwaza: older than 2.0.0, but only overlaps 1.0.0's range
    result, actions = decide([old_line, new_line], [entry(version="1.0.5", kamiwaza_version="<1.0.0")])
    assert actions == [Action.REPLACE]
    assert [e["version"] for e in result.merged] == ["1.0.5", "2.0.0"]
    # a superset of both lines with a version above both replaces both
    result, actions = decide([old_line, new_line], [entry(version="3.0.0", kamiwaza_version="")])
    assert actions == [Action.REPLACE] and [e["version"] for e in result.merged] == ["3.0.0"]
    assert len(result.decisions[0].replaces) == 2
    # above one, below the other: no downgrade of 2.0.0
    _, actions = decide([old_line, new_line], [entry(version="1.5.0", kamiwaza_version="")])
    assert actions == [Action.FAIL]


def test_same_version_with_a_disjoint_range_is_still_immutable():
    _, actions = decide([entry()], [entry(kamiwaza_version=">=5.0.0")])
    assert actions == [Action.FAIL]


def test_build_metadata_does_not_make_a_new_version():
    result, actions = decide([entry(version="1.0.0+b1")], [entry(version="1.0.0+b2")])
    assert actions == [Action.FAIL] and "immutable" in result.decisions[0].reason
    _, actions = decide([entry(version="1.0.0+b1")], [entry(version="1.0.0+b1")])
    assert actions == [Action.UNCHANGED]


# --- SemVer order, not PEP 440 ----------------------------------------------------------

@pytest.mark.parametrize(
    ("published", "local", "action", "says"),
    [
        ("1.0.0", "1.0.0-1", Action.FAIL, "older"),  # PEP 440 read 1.0.0-1 as a post-release (newer)
        ("1.0.0-1", "1.0.0", Action.REPLACE, "upgrade"),
        ("1.0.0-rc.1", "1.0.0-pre.1", Action.FAIL, "older"),  # "pre" < "rc": different, and older
        ("1.0.0-pre.1", "1.0.0-rc.1", Action.REPLACE, "upgrade"),  # PEP 440 read both as the same release
        ("1.0.0-alpha.1", "1.0.0-alpha", Action.FAIL, "older"),
        ("1.0.0-beta.11", "1.0.0-beta.2", Action.FAIL, "older"),
        ("1.0.0-rc.1", "1.0.0", Action.REPLACE, "upgrade"),
        ("1.0.0+b1", "1.0.1-rc.1+b1", Action.REPLACE, "upgrade"),
    ],
)
def test_newer_older_and_same_follow_semver(published, local, action, says):
    result, actions = decide([entry(version=published)], [entry(version=local)])
    assert actions == [action]
    assert says in result.decisions[0].reason


SEMVERS = st.sampled_from(["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-beta", "1.0.0-rc.1", "1.0.0-pre.1", "1.0.0-1", "1.0.0", "1.0.0+b1", "1.0.0+b2", "1.0.1-rc.1", "1.0.1"])


@settings(max_examples=150, deadline=None)
@given(SEMVERS, SEMVERS)
def test_decisions_follow_the_librarys_precedence(published, local):
    _, actions = decide([entry(version=published)], [entry(version=local)])
    order = semver.Version.parse(local).compare(published)
    if published == local:
        assert actions == [Action.UNCHANGED]
    else:
        assert actions == [Action.REPLACE if order > 0 else Action.FAIL]


def test_merged_entries_are_sorted_by_semver():
    remote = [entry(version="1.0.0", kamiwaza_version=">=2.0.0"), entry(version="1.0.0-rc.1", kamiwaza_version="<1.0.0")]
    result, _ = decide(remote, [entry(version="1.0.0-1", kamiwaza_version=">=1.0.0,<2.0.0")])
    assert [e["version"] for e in result.merged] == ["1.0.0-1", "1.0.0-rc.1", "1.0.0"]


def test_force_replaces_what_it_conflicts_with():
    remote = [entry(version="1.2.0"), entry(name="other")]
    result, actions = decide(remote, [entry(version="1.1.0", kamiwaza_version=">=0.9.5,<1.0.0")], force=True)
    assert actions == [Action.REPLACE]
    assert result.decisions[0].reason.startswith("FORCE=1 overrides:")
    assert [(e["name"], e["version"]) for e in result.merged] == [("kaizen", "1.1.0"), ("other", "1.0.0")]


def test_local_contradictions_fail_even_with_force():
    local = [entry(version="1.0.0", kamiwaza_version=""), entry(version="2.0.0", kamiwaza_version=">=1.0.0")]
    _, actions = decide([], local, force=True)
    assert actions == [Action.FAIL, Action.FAIL]
    _, actions = decide([], [entry(), entry(description="twice")])
    assert actions == [Action.FAIL, Action.FAIL]
    _, actions = decide([], [entry(), dict(entry())])  # the very same entry twice counts once
    assert actions == [Action.INSERT]


def test_a_range_no_release_satisfies_is_bad_input_even_with_force():
    with pytest.raises(HarnessError) as caught:
        merge.plan([], [entry(kamiwaza_version=">=2.0.0,<1.0.0")], force=True)
    assert [p.field for p in caught.value.problems] == ["$[0].kamiwaza_version"]
    assert "matches no Kamiwaza release" in caught.value.render()


@pytest.mark.parametrize(
    ("remote", "local", "field"),
    [
        ({"not": "a list"}, [], "$"),
        ([], [{"version": "1.0.0"}], "$[0].name"),
        ([], [entry(version="1.0")], "$[0].version"),
        ([entry(kamiwaza_version=">=banana")], [], "$[0].kamiwaza_version"),
        ([entry(kamiwaza_version="~=0.9.0")], [], "$[0].kamiwaza_version"),
        ([], [entry(version="1.0.0\n")], "$[0].version"),
        ([], [entry(version="v1.0.0")], "$[0].version"),
        ([], ["text"], "$[0]"),
    ],
)
def test_bad_input_is_one_harness_error(remote, local, field):
    with pytest.raises(HarnessError) as caught:
        merge.plan(remote, local)
    assert field in [p.field for p in caught.value.problems]


# --- properties --------------------------------------------------------------------

NAMES = st.sampled_from(["alpha", "beta"])
VERSIONS = st.sampled_from(["1.0.0", "1.1.0", "2.0.0", "2.0.1", "2.0.1-rc.1", "1.0.0+b1", "1.0.0-1"])
RANGES = st.sampled_from(["", "*", ">=1.0.0", "<1.0", ">=0.5.0,<2.0.0", ">=2.0.0", ">=1.2,<1.3", "!=1.5.0", ">=1.0.0,<1.5.0", "1.2"])
ENTRIES = st.builds(lambda n, v, r, c: {"name": n, "version": v, "kamiwaza_version": r, "content": c}, NAMES, VERSIONS, RANGES, st.sampled_from(["x", "y"]))
PROPERTY = settings(max_examples=120, deadline=None)


def valid_remote(candidates):
    """Greedily keep entries that form a valid registry: per name, distinct versions, disjoint ranges."""
    kept = []
    for candidate in candidates:
        clash = any(
            k["name"] == candidate["name"]
            and (merge.version_key(k) == merge.version_key(candidate) or ranges.overlaps(k["kamiwaza_version"], candidate["kamiwaza_version"]))
            for k in kept
        )
        if not clash:
            kept.append(candidate)
    return kept


def key(e):
    return json.dumps(e, sort_keys=True)


@PROPERTY
@given(st.lists(ENTRIES, max_size=5), st.lists(ENTRIES, max_size=4), st.booleans())
def test_never_drops_a_remote_entry_it_does_not_replace(candidates, local, force):
    remote = valid_remote(candidates)
    result = merge.plan(remote, local, force=force)
    replaced = {key(r) for d in result.decisions if d.action is Action.REPLACE for r in d.replaces}
    merged = {key(e) for e in result.merged}
    for published in remote:
        assert key(published) in merged or key(published) in replaced


@PROPERTY
@given(st.lists(ENTRIES, max_size=5), st.lists(ENTRIES, max_size=4), st.booleans())
def test_result_never_holds_overlapping_entries_of_one_name(candidates, local, force):
    merged = list(merge.plan(valid_remote(candidates), local, force=force).merged)
    for i, a in enumerate(merged):
        for b in merged[i + 1 :]:
            if a["name"] == b["name"]:
                assert a["version"] != b["version"]
                assert not ranges.overlaps(a["kamiwaza_version"], b["kamiwaza_version"])


@PROPERTY
@given(st.lists(ENTRIES, max_size=5), st.lists(ENTRIES, max_size=4), st.randoms(use_true_random=False))
def test_local_order_does_not_matter(candidates, local, rng):
    remote = valid_remote(candidates)
    shuffled = list(local)
    rng.shuffle(shuffled)
    assert merge.plan(remote, local).as_json() == merge.plan(remote, shuffled).as_json()


@PROPERTY
@given(st.lists(ENTRIES, max_size=5), st.lists(ENTRIES, max_size=4), st.booleans())
def test_publishing_again_is_unchanged(candidates, local, force):
    first = merge.plan(valid_remote(candidates), local, force=force)
    if not first.ok:
        return
    again = merge.plan(list(first.merged), local)
    assert {d.action for d in again.decisions} <= {Action.UNCHANGED}
    assert again.merged == first.merged


# --- the CLI -------------------------------------------------------------------------


def write(path, data):
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_cli_lines_and_exit_codes(tmp_path, run_cli, empty_repo):
    remote = write(tmp_path / "r.json", [entry()])
    ok = write(tmp_path / "ok.json", [entry(version="1.0.1"), entry(name="new-one")])
    code, out, err = run_cli(empty_repo, "merge", "--remote", remote, "--local", ok)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines[0].startswith("REPLACE   kaizen 1.0.0 -> 1.0.1 (kamiwaza_version >=0.9.0,<1.0.0): upgrade")
    assert lines[1].startswith("INSERT    new-one 1.0.0")
    failing = write(tmp_path / "fail.json", [entry(version="0.9.0")])
    code, out, _ = run_cli(empty_repo, "merge", "--remote", remote, "--local", failing)
    assert code == 1 and out.startswith("FAIL")


def test_cli_json(tmp_path, run_cli, empty_repo):
    remote = write(tmp_path / "r.json", [entry()])
    local = write(tmp_path / "l.json", [entry(version="1.1.0", kamiwaza_version=">=0.9.0")])
    code, out, _ = run_cli(empty_repo, "merge", "--remote", remote, "--local", local, "--json")
    assert code == 0
    document = json.loads(out)
    assert document["decisions"] == [
        {"name": "kaizen", "version": "1.1.0", "kamiwaza_version": ">=0.9.0", "action": "REPLACE",
         "reason": "upgrade 1.0.0 -> 1.1.0; kamiwaza_version >=0.9.0 expands support beyond >=0.9.0,<1.0.0"}
    ]
    assert document["merged"] == [entry(version="1.1.0", kamiwaza_version=">=0.9.0")]


@pytest.mark.parametrize("content", ["{not json", '{"an": "object"}', '[{"name": "x", "version": "one"}]'])
def test_cli_bad_input_exits_2_without_traceback(tmp_path, run_cli, empty_repo, content):
    (tmp_path / "bad.json").write_text(content, encoding="utf-8")
    remote = write(tmp_path / "r.json", [])
    code, out, err = run_cli(empty_repo, "merge", "--remote", remote, "--local", str(tmp_path / "bad.json"))
    assert code == 2
    assert err.startswith("error:") and "Traceback" not in err


def test_cli_missing_file_exits_2(tmp_path, run_cli, empty_repo):
    code, _, err = run_cli(empty_repo, "merge", "--remote", str(tmp_path / "none.json"), "--local", str(tmp_path / "none.json"))
    assert code == 2 and "missing" in err


def test_cli_force_flag(tmp_path, run_cli, empty_repo):
    remote = write(tmp_path / "r.json", [entry(version="2.0.0")])
    local = write(tmp_path / "l.json", [entry(version="1.0.0")])
    assert run_cli(empty_repo, "merge", "--remote", remote, "--local", local)[0] == 1
    code, out, _ = run_cli(empty_repo, "merge", "--remote", remote, "--local", local, "--force")
    assert code == 0 and "FORCE=1 overrides" in out


def test_random_local_order_example():
    remote = [entry(name="a", version="1.0.0", kamiwaza_version=""), entry(name="b")]
    local = [entry(name="a", version="2.0.0", kamiwaza_version=""), entry(name="b", version="0.1.0"), entry(name="c")]
    results = set()
    for seed in range(5):
        shuffled = list(local)
        random.Random(seed).shuffle(shuffled)
        results.add(json.dumps(merge.plan(remote, shuffled).as_json(), sort_keys=True))
    assert len(results) == 1
