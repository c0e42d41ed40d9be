import pytest
from hypothesis import given, strategies as st

from release import rules
from release.extensions import Extension


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / "extensions" / "apps" / "my-app"
    (folder / "assets").mkdir(parents=True)
    (folder / "assets" / "shot.png").write_bytes(b"\x89PNG")
    return Extension("app", "my-app", folder)


@given(st.from_regex(r"[a-z0-9]+(-[a-z0-9]+){0,3}", fullmatch=True))
def test_prefixed_kebab_names_are_accepted(stem):
    assert rules.name_problems("app", stem) == []
    assert rules.name_problems("tool", f"tool-{stem}") == []
    assert rules.name_problems("tool", f"mcp-{stem}") == []
    assert rules.name_problems("service", f"service-{stem}") == []


@pytest.mark.parametrize("name", ["My-App", "my_app", "my--app", "-app", "app-", "app.x"])
def test_non_kebab_names_are_refused(name):
    assert any("kebab-case" in reason for reason in rules.name_problems("app", name))


def test_folder_and_manifest_name_must_match(app):
    problems = rules.naming_problems(app, {"name": "other-app"})
    assert [p.field for p in problems] == ["$.name"] and "folder name" in problems[0].message


def test_template_type_must_match_folder(app):
    problems = rules.naming_problems(app, {"name": "my-app", "template_type": "tool"})
    assert [p.field for p in problems] == ["$.template_type"]


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("assets/shot.png", None),
        ("assets/none.png", "does not exist"),
        ("assets/shot.bmp", "is not an image file"),
        ("../other/shot.png", "leaves the extension folder"),
        ("/etc/shot.png", "leaves the extension folder"),
        ("https://kamiwaza.ai/previews/x.png", None),
        ("https://evil.example.com/x.png", "not under an allowed prefix"),
    ],
)
def test_preview_image(app, value, says):
    problems = rules.preview_image_problems(app, {"preview_image": value}, rules.DEFAULT_PREVIEW_URL_PREFIXES)
    if says is None:
        assert problems == []
    else:
        assert len(problems) == 1 and says in problems[0].message and problems[0].field == "$.preview_image"


def test_preview_prefixes_are_configurable():
    assert rules.preview_prefixes({rules.PREVIEW_PREFIXES_VARIABLE: "https://cdn.example.com/ , https://b/"}) == ("https://cdn.example.com/", "https://b/")
    assert rules.preview_prefixes({}) == rules.DEFAULT_PREVIEW_URL_PREFIXES


def test_reserved_env_defaults(app):
    problems = rules.env_defaults_problems(app, {"env_defaults": {"KAMIWAZA_API_URL": "x", "kamiwaza_token": "y", "LOG_LEVEL": "info"}})
    assert [p.field for p in problems] == ["$.env_defaults.KAMIWAZA_API_URL", "$.env_defaults.kamiwaza_token"]


def test_shared_values_name_the_other_extensions(tmp_path):
    a, b, c = (Extension("app", n, tmp_path / n) for n in ("a", "b", "c"))
    values = {a: "x.png", b: "x.png", c: "y.png"}
    problems = rules.shared_value_problems(a, values, field="$.preview_image", what="preview image file name", fix="rename")
    assert len(problems) == 1 and "app/b" in problems[0].message
    assert rules.shared_value_problems(c, values, field="$.preview_image", what="p", fix="f") == []


def test_preview_key_ignores_urls():
    assert rules.preview_image_key({"preview_image": "assets/x.png"}) == "x.png"
    assert rules.preview_image_key({"preview_image": "https://kamiwaza.ai/x.png"}) is None


def test_holders_of_same_value_groups_each_extension_with_its_twins(tmp_path):
    a, b, c = (Extension("app", n, tmp_path / n) for n in ("a", "b", "c"))
    groups = rules.holders_of_same_value({a: "x", b: "x", c: None})
    assert groups[a] == groups[b] == {a: "x", b: "x"}
    assert groups[c] == {c: None}
    assert rules.shared_value_problems(c, groups[c], field="f", what="w", fix="x") == []
