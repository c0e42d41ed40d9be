"""The switch that turns skips of infrastructure tests into failures.

Tests that need Docker or S3 may skip on a laptop without them. CI sets
KAMIWAZA_REQUIRE_INFRA=1, and then any skipped test marked `docker` or `s3`
fails instead, whatever made it skip.
"""

from __future__ import annotations

import os
import socket
import subprocess

import pytest

REQUIRE_INFRA_VARIABLE = "KAMIWAZA_REQUIRE_INFRA"
INFRA_MARKERS = ("docker", "s3")


def infra_required() -> bool:
    return os.environ.get(REQUIRE_INFRA_VARIABLE, "").strip().lower() in {"1", "true", "yes"}


def unavailable(what: str, how_to_start: str) -> None:
    """Skip (laptop) or fail (CI) a test whose infrastructure is missing."""
    message = f"{what} is not available; {how_to_start}"
    if infra_required():
        pytest.fail(f"{message} ({REQUIRE_INFRA_VARIABLE} is set, so this may not skip)", pytrace=False)
    pytest.skip(message)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.skipped and infra_required() and any(item.get_closest_marker(m) for m in INFRA_MARKERS):
        if not hasattr(report, "wasxfail"):
            report.outcome = "failed"
            report.longrepr = f"{item.nodeid}: skipped, but {REQUIRE_INFRA_VARIABLE} is set: infrastructure tests may not skip ({report.longrepr})"


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a server the tests started; kill it if it does not stop within 10 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
