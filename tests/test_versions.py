from hypothesis import given, strategies as st
import pytest

from release import versions

numbers = st.integers(min_value=0, max_value=10**6)


@given(numbers, numbers, numbers)
def test_every_plain_release_parses_and_orders_numerically(major, minor, patch):
    text = f"{major}.{minor}.{patch}"
    assert versions.is_valid_version(text)
    assert versions.parse_version(text).release == (major, minor, patch)


@pytest.mark.parametrize("text", ["1.0.0-rc.1", "1.0.0-beta", "2.3.4-alpha.2+build.9", "1.0.0+20260101"])
def test_prerelease_and_build_parts_are_accepted(text):
    assert versions.is_valid_version(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1.0", "is not X.Y.Z"),
        ("v1.0.0", "is not X.Y.Z"),
        ("01.0.0", "is not X.Y.Z"),
        ("1.0.0.0", "is not X.Y.Z"),
        ("1.0.0-banana", "cannot be ordered"),
        (100, "must be a string"),
    ],
)
def test_bad_versions_say_why(text, reason):
    with pytest.raises(versions.VersionSyntaxError, match=reason):
        versions.parse_version(text)


def test_prerelease_orders_before_release():
    assert versions.parse_version("1.0.0-rc.1") < versions.parse_version("1.0.0")


@pytest.mark.parametrize("text", [">=0.9.0", ">=0.9.0,<1.0.0", "~=1.2.0", "==1.0.0", "!=0.8.5,>0.8.0", " >= 1.0.0 , <= 2.0.0 ", ""])
def test_valid_ranges(text):
    assert versions.is_valid_range(text)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("=>0.9.0", "not a valid version specifier"),
        (">=1.0", "plain X.Y.Z"),
        ("==1.*", "plain X.Y.Z"),
        ("===1.0.0", "operator"),
        (">=1.0.0-rc.1", "not a valid version specifier|plain X.Y.Z"),
        ("1.0.0", "not a valid version specifier"),
        (5, "must be a string"),
    ],
)
def test_bad_ranges_say_why(text, reason):
    with pytest.raises(versions.VersionSyntaxError, match=reason):
        versions.parse_range(text)


def test_missing_or_empty_range_is_unrestricted():
    assert versions.parse_range(None).contains("123.4.5")
    assert versions.parse_range("  ").contains("0.0.1")
