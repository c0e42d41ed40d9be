"""Fixtures for testing the harness itself on throw-away copies of the monorepo."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from hypothesis import settings

from release import cli
from release import config as harness_config

# No wall-clock deadlines: speed is measured by `make bench`, never asserted in tests, and a
# deadline on a loaded 2-core CI machine only adds flakiness.
settings.register_profile("harness", deadline=None)
settings.load_profile("harness")

REPO_ROOT = Path(__file__).resolve().parent.parent
# The harness's own sample monorepo: a frozen copy of the sample extensions. Tests never read
# the user's extensions/ (only checks/ does), so work in progress there cannot break them.
FIXTURE_MONOREPO = Path(__file__).resolve().parent / "fixtures" / "monorepo"
# The fixture extensions carry their own tests/ (run by `make test` inside their containers).
collect_ignore_glob = ["fixtures/*"]
# Variables the Makefile exports; a test must never inherit them from the shell.
HARNESS_VARIABLES = (*harness_config.MAKE_VARIABLES, "KAMIWAZA_ROOT", "SOURCE_DATE_EPOCH", "LOCK_TTL",
                     "S3_CONNECT_TIMEOUT", "S3_READ_TIMEOUT", "S3_MAX_ATTEMPTS")


@pytest.fixture(autouse=True)
def clean_harness_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (*HARNESS_VARIABLES, "MAKEFLAGS"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def sample_repo(tmp_path: Path) -> Path:
    """A copy of the fixture monorepo's extensions and the harness's templates in a fresh root."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copytree(FIXTURE_MONOREPO / "extensions", root / "extensions", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO_ROOT / "templates", root / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    return root


HARNESS_FILES = ("release", "checks", "tests", "templates", "scripts", "Makefile", "pytest.ini", "conftest.py", "pyproject.toml")


@pytest.fixture
def harness_copy(tmp_path: Path) -> Path:
    """A whole monorepo in tmp_path: a copy of the harness (release/, checks/, tests/, the Makefile,
    ...) whose extensions/ are the fixture monorepo's. Run it with PYTHONPATH=<copy> (see `copy_env`)."""
    root = tmp_path / "monorepo"
    root.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", ".pytest_cache", "build", "dist")
    for name in HARNESS_FILES:
        source = REPO_ROOT / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignore)
        elif source.is_file():
            shutil.copy2(source, root / name)
    shutil.copytree(FIXTURE_MONOREPO / "extensions", root / "extensions", ignore=ignore)
    return root


def copy_env(root: Path, **extra: str) -> dict[str, str]:
    """The environment of a subprocess that runs the harness of `root` (not this checkout's)."""
    import os

    environment = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith(("PYTEST_", "MAKE"))}
    environment.update(PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1", **extra)
    return environment


@pytest.fixture
def empty_repo(tmp_path: Path) -> Path:
    """A monorepo with templates but no extensions."""
    root = tmp_path / "repo"
    (root / "extensions").mkdir(parents=True)
    shutil.copytree(REPO_ROOT / "templates", root / "templates", ignore=shutil.ignore_patterns("__pycache__"))
    return root


@pytest.fixture
def run_cli(capsys: pytest.CaptureFixture[str]):
    """Run `python -m release ...` in-process against a root; returns (exit code, stdout, stderr)."""

    def run(root: Path, *args: str) -> tuple[int, str, str]:
        code = cli.main(["--root", str(root), *args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def bucket_cli(run_cli, s3_bucket, monkeypatch: pytest.MonkeyPatch):
    """`run_cli` with the test bucket's settings in the environment; keyword settings are added to it."""
    for key, value in s3_bucket.env.items():
        monkeypatch.setenv(key, value)

    def run(root: Path, *args: str, **env: str) -> tuple[int, str, str]:
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        return run_cli(root, *args)

    return run


@pytest.fixture
def run_checks():
    """Run `pytest checks/` (what `make validate` runs) against another monorepo root."""
    import os
    import subprocess
    import sys

    def run(root: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        environment = {k: v for k, v in os.environ.items() if k not in HARNESS_VARIABLES and not k.startswith("PYTEST_")}
        environment.update(env or {}, KAMIWAZA_ROOT=str(root))
        return subprocess.run(
            [sys.executable, "-m", "pytest", "checks/", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", *args],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=300,
        )

    return run
