"""kamiwaza.json rules: schema, version grammar, naming, preview image, env defaults."""

from __future__ import annotations

import warnings

import pytest

from checks.support import expect_no_problems, manifest_or_fail
from release import manifest, rules, versions
from release.errors import Problem
from release.extensions import Extension


def test_schema(repo, extension):
    data = manifest_or_fail(repo, extension)
    for key in manifest.unknown_keys(data):
        warnings.warn(f"{extension.manifest_path}: unknown key {key!r} is kept but not validated; check its spelling", UserWarning)
    expect_no_problems(manifest.schema_problems(data, extension.manifest_path))


def test_version_grammar(repo, extension):
    data = manifest_or_fail(repo, extension)
    problems = []
    for field, parse in (("version", versions.parse_version), ("kamiwaza_version", versions.parse_range)):
        if field not in data:
            continue
        try:
            parse(data[field])
        except versions.VersionSyntaxError as error:
            problems.append(Problem(str(error), file=extension.manifest_path, field=f"$.{field}", fix=manifest.fix_for(field)))
    expect_no_problems(problems)


def test_naming(repo, extension):
    expect_no_problems(rules.naming_problems(extension, manifest_or_fail(repo, extension)))


@pytest.fixture(scope="module")
def name_groups(repo) -> dict[Extension, dict[Extension, str | None]]:
    return rules.holders_of_same_value(repo.values(lambda e, data: data.get("name") if isinstance(data.get("name"), str) else e.name))


@pytest.fixture(scope="module")
def preview_key_groups(repo) -> dict[Extension, dict[Extension, str | None]]:
    return rules.holders_of_same_value(repo.values(lambda e, data: rules.preview_image_key(data)))


def test_unique_name(repo, extension, name_groups):
    manifest_or_fail(repo, extension)
    expect_no_problems(
        rules.shared_value_problems(extension, name_groups.get(extension, {}), field="$.name", what="extension name", fix="give each extension its own name (folder and manifest)")
    )


def test_preview_image(repo, extension, settings):
    data = manifest_or_fail(repo, extension)
    expect_no_problems(rules.preview_image_problems(extension, data, rules.preview_prefixes(settings.env)))


def test_unique_preview_image(repo, extension, preview_key_groups):
    manifest_or_fail(repo, extension)
    expect_no_problems(
        rules.shared_value_problems(
            extension,
            preview_key_groups.get(extension, {}),
            field="$.preview_image",
            what="preview image file name",
            fix="rename the file: the registry copies every preview image into one images/ folder",
        )
    )


def test_env_defaults(repo, extension):
    expect_no_problems(rules.env_defaults_problems(extension, manifest_or_fail(repo, extension)))
