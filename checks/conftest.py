"""Parametrize every check over the selected extensions: one test id per `<type>/<name>`.

TYPE and NAME (the Makefile exports them) narrow the run to one extension;
KAMIWAZA_ROOT points the checks at another monorepo (default: the current folder).
"""

from __future__ import annotations

import pytest

from release import config as harness_config
from release import extensions, monorepo
from release.errors import HarnessError


def _selected(repo: monorepo.Monorepo, settings: harness_config.Settings) -> list[extensions.Extension]:
    return extensions.select(repo.extensions, settings.extension_type, settings.extension_name)


def pytest_configure(config: pytest.Config) -> None:
    try:
        settings = harness_config.resolve()
        repo = monorepo.load(settings.root)
        selected = _selected(repo, settings)
    except HarnessError as error:
        raise pytest.UsageError(error.render()) from None
    config.stash[_REPO] = repo
    config.stash[_SELECTED] = selected
    config.stash[_SETTINGS] = settings


_REPO = pytest.StashKey[monorepo.Monorepo]()
_SELECTED = pytest.StashKey[list]()
_SETTINGS = pytest.StashKey[harness_config.Settings]()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "extension" in metafunc.fixturenames:
        selected = metafunc.config.stash[_SELECTED]
        metafunc.parametrize("extension", selected, ids=[e.id for e in selected])


@pytest.fixture(scope="session")
def repo(pytestconfig: pytest.Config) -> monorepo.Monorepo:
    return pytestconfig.stash[_REPO]


@pytest.fixture(scope="session")
def settings(pytestconfig: pytest.Config) -> harness_config.Settings:
    return pytestconfig.stash[_SETTINGS]
