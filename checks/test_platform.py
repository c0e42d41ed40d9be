"""Platform rules Kamiwaza enforces (release.platform.PLATFORM_RULES): one test per rule x extension."""

from __future__ import annotations

import pytest

from checks.support import expect_no_problems, loaded
from release import compose, platform
from release.errors import HarnessError


def _load(extension):
    return compose.load_compose(extension.compose_path)


def _document(extension):
    try:
        return loaded(_load, extension, extension.compose_path)
    except HarnessError as error:
        pytest.fail(error.render(), pytrace=False)


def test_no_privileged_container_ports(extension):
    expect_no_problems(platform.privileged_port_problems(extension, _document(extension)))


def test_no_privileged_expose(extension):
    expect_no_problems(platform.exposed_port_problems(extension, _document(extension)))


def test_http_servers_run_as_non_root(extension):
    expect_no_problems(platform.root_http_server_problems(extension, _document(extension)))


def test_no_image_only_http_servers(extension):
    expect_no_problems(platform.image_only_http_server_problems(extension, _document(extension)))
