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


@pytest.mark.parametrize(("extension_type", "name", "suggestion"), [("tool", "weather", "tool-weather"), ("service", "kv", "service-kv"), ("tool", "Weather_API", "tool-weather-api")])
def test_a_name_missing_its_prefix_gets_a_suggestion(extension_type, name, suggestion):
    reasons = rules.name_problems(extension_type, name)
    assert any(f'"{suggestion}"' in reason for reason in reasons)
    assert rules.suggested_name(extension_type, name) == suggestion
    assert rules.name_problems(extension_type, suggestion) == []


@pytest.mark.parametrize("name", ["tool-x", "mcp-x"])
def test_tools_may_start_with_tool_or_mcp(name):
    assert rules.name_problems("tool", name) == []
    assert rules.name_problems("service", name) != []


def test_a_trailing_newline_is_not_kebab_case():
    assert rules.name_problems("app", "my-app\n")


def extension(tmp_path, extension_type, folder):
    return Extension(extension_type, folder, tmp_path / "extensions" / f"{extension_type}s" / folder)


def test_differing_valid_names_change_the_manifest(app):
    problems = rules.naming_problems(app, {"name": "other-app"})
    assert len(problems) == 1 and problems[0].field == "$.name" and "folder name" in problems[0].message
    assert problems[0].fix.startswith('set "name" to "my-app"')


def test_a_folder_missing_its_prefix_is_renamed_to_the_manifest_name(tmp_path):
    problems = rules.naming_problems(extension(tmp_path, "tool", "weather"), {"name": "mcp-weather"})
    assert len(problems) == 1
    assert "rename the folder extensions/tools/weather to mcp-weather" in problems[0].fix


def test_when_neither_name_is_valid_one_problem_suggests_one_name(tmp_path):
    problems = rules.naming_problems(extension(tmp_path, "service", "kv"), {"name": "KV"})
    assert len(problems) == 1
    assert "neither is valid" in problems[0].message
    assert 'rename the folder to service-kv and set "name" to "service-kv"' in problems[0].fix


def test_matching_names_report_only_the_name_rules(tmp_path):
    problems = rules.naming_problems(extension(tmp_path, "tool", "weather"), {"name": "weather"})
    assert len(problems) == 1 and "tool-weather" in problems[0].fix
    assert rules.naming_problems(extension(tmp_path, "tool", "mcp-weather"), {"name": "mcp-weather"}) == []


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


@pytest.mark.parametrize("name", sorted(rules.RESERVED_ENV_NAMES))
def test_each_reserved_env_default_is_refused(app, name):
    problems = rules.env_defaults_problems(app, {"env_defaults": {name: "x", "LOG_LEVEL": "info"}})
    assert [p.field for p in problems] == [f"$.env_defaults.{name}"]
    assert "KAMIWAZA_DEPLOYMENT_ID" in problems[0].fix


def test_reserved_env_defaults_are_exactly_cores():
    assert rules.RESERVED_ENV_NAMES == {"KAMIWAZA_API_URL", "KAMIWAZA_APP_PORT", "KAMIWAZA_MODEL_PORT", "KAMIWAZA_DEPLOYMENT_ID", "OPENAI_BASE_URL"}


@pytest.mark.parametrize("name", ["KAMIWAZA_URL", "KAMIWAZA_USE_AUTH", "kamiwaza_api_url", "OPENAI_API_KEY", "LOG_LEVEL"])
def test_other_env_defaults_are_the_extensions_own(app, name):
    assert rules.env_defaults_problems(app, {"env_defaults": {name: "x"}}) == []


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
