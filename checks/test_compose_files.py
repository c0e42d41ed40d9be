"""docker-compose.yml present and valid; a Dockerfile for every built service."""

from __future__ import annotations

import pytest

from checks.support import expect_no_problems, loaded
from release import compose, compose_cli
from release.errors import HarnessError


def _read(extension):
    return compose.load_compose(extension.compose_path)


def _load(extension):
    try:
        return loaded(_read, extension, extension.compose_path)
    except HarnessError as error:
        pytest.fail(error.render(), pytrace=False)


def test_compose_file(extension):
    _load(extension)
    expect_no_problems(compose_cli.config_problems(extension.compose_path))


def test_dockerfiles(extension):
    expect_no_problems(compose.dockerfile_problems(_load(extension), extension.compose_path))
