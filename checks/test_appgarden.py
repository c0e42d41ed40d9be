"""docker-compose.appgarden.yml: present, in sync with its sources, and App Garden safe.

One test per extension x rule: presence, drift, each of
`release.compose.APPGARDEN_RULES`, and Compose v2 acceptance.
"""

from __future__ import annotations

import pytest

from checks.support import expect_no_problems, loaded
from release import compose, compose_cli, sync
from release.errors import HarnessError


def _appgarden(extension) -> compose.AppGardenFile:
    try:
        garden = loaded(sync.load_appgarden, extension, extension.appgarden_path, extension.manifest_path)
    except HarnessError as error:
        pytest.fail(error.render(), pytrace=False)
    if garden is None:
        pytest.skip("no docker-compose.appgarden.yml (test_appgarden_present says whether one is required)")
    return garden


def test_appgarden_present(extension):
    expect_no_problems(sync.presence_problems(extension))


def test_appgarden_in_sync(extension):
    result = sync.check(extension)
    if not result.ok:
        pytest.fail(result.render(), pytrace=False)


# One function per rule (not a parametrize over rules): test ids stay `[type/name]`,
# which the per-extension report reads as the extension.
def test_no_host_ports(extension):
    expect_no_problems(compose.host_port_problems(_appgarden(extension)))


def test_no_bind_mounts(extension):
    expect_no_problems(compose.bind_mount_problems(_appgarden(extension)))


def test_no_build(extension):
    expect_no_problems(compose.build_problems(_appgarden(extension)))


def test_no_host_privileges(extension):
    expect_no_problems(compose.privilege_problems(_appgarden(extension)))


def test_resource_limits(extension):
    expect_no_problems(compose.resource_limit_problems(_appgarden(extension)))


def test_host_gateway(extension):
    expect_no_problems(compose.host_gateway_problems(_appgarden(extension)))


def test_tagged_images(extension):
    expect_no_problems(compose.image_tag_problems(_appgarden(extension)))


def test_project_image_version(extension):
    expect_no_problems(compose.project_version_problems(_appgarden(extension)))


def test_appgarden_compose_v2_accepts(extension):
    expect_no_problems(compose_cli.config_problems(_appgarden(extension).path))
