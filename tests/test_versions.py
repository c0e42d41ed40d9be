"""release.versions: SemVer extension versions and Core's `kamiwaza_version` grammar."""

from __future__ import annotations

import functools

import pytest
import semver
from hypothesis import given, settings
from hypothesis import strategies as st

from release import versions

CHECK = settings(max_examples=300, deadline=None)

# --- extension versions: SemVer 2.0.0 -----------------------------------------------

numbers = st.integers(min_value=0, max_value=10**6)
numeric_identifier = st.integers(min_value=0, max_value=30).map(str)
alphanumeric_identifier = st.text(alphabet="abcxyzABC-0123", min_size=1, max_size=5).filter(lambda s: not s.isdigit())
identifiers = st.lists(st.one_of(numeric_identifier, alphanumeric_identifier), min_size=1, max_size=3).map(".".join)
SEMVER = st.builds(
    lambda core, pre, build: ".".join(map(str, core)) + (f"-{pre}" if pre else "") + (f"+{build}" if build else ""),
    st.tuples(st.integers(0, 3), st.integers(0, 3), st.integers(0, 3)),
    st.one_of(st.none(), identifiers),
    st.one_of(st.none(), identifiers),
)


@given(numbers, numbers, numbers)
def test_every_plain_release_parses(major, minor, patch):
    parsed = versions.parse_version(f"{major}.{minor}.{patch}")
    assert (parsed.major, parsed.minor, parsed.patch) == (major, minor, patch)


@pytest.mark.parametrize("text", ["1.0.0-rc.1", "1.0.0-beta", "2.3.4-alpha.2+build.9", "1.0.0+20260101", "1.0.0-1", "1.0.0-pre.1", "1.0.0-x-y.0"])
def test_semver_pre_release_and_build_parts_are_accepted(text):
    assert versions.is_valid_version(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.0", "not a SemVer"),
        ("1.0.0.0", "not a SemVer"),
        ("v1.0.0", '"v" prefix'),
        ("V1.0.0", '"v" prefix'),
        ("01.0.0", "not a SemVer"),
        ("1.00.0", "not a SemVer"),
        ("1.0.0-alpha.01", "not a SemVer"),
        ("1.0.0\n", "not a SemVer"),
        (" 1.0.0", "not a SemVer"),
        ("1.0.0-", "not a SemVer"),
        ("1.0.0+", "not a SemVer"),
        ("1.0.0-a..b", "not a SemVer"),
        ("\u0661.0.0", "non-ASCII"),  # Arabic-Indic digit one
        ("\uff11.0.0", "non-ASCII"),  # fullwidth digit one
        ("", "not a SemVer"),
        (100, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_bad_versions_say_why(text, reason):
    with pytest.raises(versions.VersionSyntaxError, match=reason):
        versions.parse_version(text)
    assert not versions.is_valid_version(text)


def test_the_semver_precedence_chain():
    chain = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0"]
    parsed = [versions.parse_version(text) for text in chain]
    assert all(a < b for a, b in zip(parsed, parsed[1:]))


def test_numeric_pre_release_is_a_pre_release_and_tokens_differ():
    assert versions.parse_version("1.0.0-1") < versions.parse_version("1.0.0")
    assert not versions.same_release(versions.parse_version("1.0.0-rc.1"), versions.parse_version("1.0.0-pre.1"))


def test_build_metadata_never_changes_precedence():
    assert versions.same_release(versions.parse_version("1.0.0+b1"), versions.parse_version("1.0.0+b2"))
    assert versions.same_release(versions.parse_version("1.0.0+b1"), versions.parse_version("1.0.0"))


@CHECK
@given(SEMVER, SEMVER)
def test_precedence_agrees_with_the_library(a, b):
    expected = semver.Version.compare(semver.Version.parse(a), b)
    left, right = versions.parse_version(a), versions.parse_version(b)
    assert (left < right, versions.same_release(left, right), left > right) == (expected < 0, expected == 0, expected > 0)


@CHECK
@given(st.lists(SEMVER, max_size=6))
def test_sorting_by_parse_version_is_semver_order(texts):
    ordered = sorted(texts, key=versions.parse_version)
    by_library = sorted(texts, key=functools.cmp_to_key(lambda a, b: semver.Version.parse(a).compare(b)))
    assert [versions.parse_version(t).replace(build=None) for t in ordered] == [semver.Version.parse(t).replace(build=None) for t in by_library]


# --- kamiwaza_version: Core's grammar -------------------------------------------------

ACCEPTED = {
    None: (),
    "": (),
    "   ": (),
    "*": (),
    " * ": (),
    "0.9.0": (("==", (0, 9, 0)),),
    "0.9": (("==", (0, 9, 0)),),
    ">=0.9": ((">=", (0, 9, 0)),),
    ">=0.9.0,<1.0.0": ((">=", (0, 9, 0)), ("<", (1, 0, 0))),
    " >=0.9.0 , <1.0 ": ((">=", (0, 9, 0)), ("<", (1, 0, 0))),
    ">1.2.3,<=2.0,!=1.5.0": ((">", (1, 2, 3)), ("<=", (2, 0, 0)), ("!=", (1, 5, 0))),
    "==1.0.0": (("==", (1, 0, 0)),),
    ">=123456789.0.0": ((">=", (123456789, 0, 0)),),
}


@pytest.mark.parametrize(("text", "clauses"), ACCEPTED.items())
def test_accepted_values_and_their_clauses(text, clauses):
    assert versions.parse_range(text) == clauses
    assert versions.is_valid_range(text)


REJECTED = {
    "~=0.9.0": '"~="',
    "===1.0.0": '"==="',
    "==0.9.*": "wildcard",
    "1.*": "wildcard",
    ">=1.x": "wildcard",
    ">=1.0,*": "wildcard",
    "v0.9.0": '"v" prefix',
    ">=v0.9.0": '"v" prefix',
    ">=1.0.0-rc.1": "pre-release or local",
    "==1.0.0+local": "pre-release or local",
    ">=1.0a1": "pre-release or local",
    ">=0.9.0,": "empty clause",
    ",>=0.9.0": "empty clause",
    ">=0.9.0,,<1.0.0": "empty clause",
    ">= 0.9.0": "space inside",
    ">=0.9 .0": "space inside",
    ">=\u0661.0.0": "non-ASCII",
    ">=\uff11.0.0": "non-ASCII",
    "=>0.9.0": "unknown operator",
    "~0.9.0": "unknown operator",
    "^0.9.0": "unknown operator",
    ">=1": "MAJOR.MINOR",
    "1.0.0.0": "MAJOR.MINOR",
    "latest": "MAJOR.MINOR",
    5: "must be a string",
    (">=1.0.0",): "must be a string",
}


@pytest.mark.parametrize(("text", "reason"), REJECTED.items(), ids=[repr(k) for k in REJECTED])
def test_rejected_values_name_the_clause_and_the_fix(text, reason):
    with pytest.raises(versions.VersionSyntaxError, match=reason) as caught:
        versions.parse_range(text)
    message = str(caught.value)
    if isinstance(text, str) and "empty clause" not in reason:
        assert any(f'clause "{piece.strip()}"' in message for piece in text.split(","))
    assert "e.g." in message or "use" in message or "drop it" in message or "write" in message


# An independent recogniser written from the grammar in issue 11, character by character, no regex.
SPACE = " \t\r\n\f\v"
OPERATOR_SPELLINGS = (">=", "<=", "==", "!=", ">", "<")


def oracle(text: str) -> tuple | None:
    """The clauses Core's grammar gives `text`, or None when it refuses it."""
    if text.strip(SPACE) in ("", "*"):
        return ()
    clauses = []
    for piece in text.split(","):
        clause = piece.strip(SPACE)
        operator = "=="
        for spelling in OPERATOR_SPELLINGS:
            if clause.startswith(spelling):
                operator, clause = spelling, clause[len(spelling):]
                break
        numbers = clause.split(".")
        if len(numbers) not in (2, 3):
            return None
        for number in numbers:
            if number == "" or any(character not in "0123456789" for character in number):
                return None
        values = [int(number) for number in numbers] + [0]
        clauses.append((operator, (values[0], values[1], values[2])))
    return tuple(clauses)


NOISE = st.text(alphabet=list("0123456789.,<>=!~*vx-+ \t\u0661\uff11a"), max_size=16)
NEAR_VALID_CLAUSE = st.builds(
    lambda pre, op, nums, post: f"{pre}{op}{'.'.join(nums)}{post}",
    st.sampled_from(["", " ", "\t", " \u00a0"]),
    st.sampled_from(["", ">=", ">", "<=", "<", "==", "!=", "~=", "===", "=>", "v", "= "]),
    st.lists(st.one_of(st.integers(0, 12).map(str), st.sampled_from(["*", "x", "01", "\u0661", "1-rc", "1+b", ""])), min_size=1, max_size=4),
    st.sampled_from(["", " ", "\n"]),
)
VALUES = st.one_of(NOISE, st.lists(NEAR_VALID_CLAUSE, min_size=1, max_size=3).map(",".join))


@settings(max_examples=600, deadline=None)
@given(VALUES)
def test_parser_agrees_with_an_independent_recogniser(text):
    expected = oracle(text)
    if expected is None:
        with pytest.raises(versions.VersionSyntaxError):
            versions.parse_range(text)
    else:
        assert versions.parse_range(text) == expected


def test_the_generators_reach_both_sides():
    """Both accepted and refused values are generated (the property above is not one-sided)."""
    seen: set[bool] = set()

    @settings(max_examples=200, deadline=None, database=None)
    @given(VALUES)
    def collect(text):
        seen.add(oracle(text) is not None)

    collect()
    assert seen == {True, False}
