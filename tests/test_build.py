"""release/build.py and `make build`/`build-all`: pure planning, then real builds of the samples."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from release import build, compose, extensions, images, manifest
from release.errors import HarnessError

DOCKERFILE = """\
# syntax comments are skipped
ARG BASE_IMAGE=kamiwaza-base/python:bookworm
ARG OTHER
FROM ${BASE_IMAGE} AS builder
RUN true
FROM builder
FROM --platform=linux/amd64 redis:7-bookworm AS cache
FROM scratch
COPY --from=builder /app /app
"""


def _kaizen(root: Path) -> extensions.Extension:
    return next(e for e in extensions.discover(root) if e.name == "kaizen")


def test_built_services_are_those_with_a_build_context(sample_repo: Path):
    document = compose.load_compose(_kaizen(sample_repo).compose_path)
    assert build.built_services(document) == ["backend", "frontend"]


def test_local_tags_are_dev_and_latest_from_images_rules():
    assert build.local_tags("kamiwazaai/kaizen-backend", "1.0.1") == ("kamiwazaai/kaizen-backend:1.0.1-dev", "kamiwazaai/kaizen-backend:latest")
    assert build.local_tags("kamiwazaai/x-y", "1.0.0+build.5")[0] == images.service_image("x", "y", {"build": "."}, "1.0.0+build.5", "dev")


def test_plan_for_the_kaizen_sample(sample_repo: Path):
    extension = _kaizen(sample_repo)
    parsed = manifest.load(extension.manifest_path)
    specs = build.plan(
        extension, parsed, compose.load_compose(extension.compose_path), source="extensions/apps/kaizen", revision="abc123", created="2025-01-02T03:04:05Z"
    )
    assert [(s.service, s.tags, s.context, s.dockerfile) for s in specs] == [
        ("backend", ("kamiwazaai/kaizen-backend:1.0.1-dev", "kamiwazaai/kaizen-backend:latest"), (extension.path / "backend").resolve(), "Dockerfile"),
        ("frontend", ("kamiwazaai/kaizen-frontend:1.0.1-dev", "kamiwazaai/kaizen-frontend:latest"), (extension.path / "frontend").resolve(), "Dockerfile"),
    ]
    assert specs[0].labels == {
        "org.opencontainers.image.title": "kamiwazaai/kaizen-backend",
        "org.opencontainers.image.version": "1.0.1",
        "org.opencontainers.image.source": "extensions/apps/kaizen",
        "org.opencontainers.image.revision": "abc123",
        "org.opencontainers.image.description": parsed.data["description"],
        "org.opencontainers.image.created": "2025-01-02T03:04:05Z",
    }
    assert all(images.LOCAL_ONLY_TAG not in s.ref for s in specs)


def test_plan_names_a_missing_dockerfile(sample_repo: Path):
    extension = _kaizen(sample_repo)
    (extension.path / "frontend" / "Dockerfile").unlink()
    with pytest.raises(HarnessError) as caught:
        build.plan(extension, manifest.load(extension.manifest_path), compose.load_compose(extension.compose_path), source="s", revision=None)
    assert "services.frontend.build" in caught.value.render()


def test_build_args_resolve_defaults_and_the_environment(tmp_path: Path):
    path = tmp_path / "docker-compose.yml"
    args = {"A": "${A_VAR:-fallback}", "B": "$B_VAR", "C": "plain $$dollar", "D": None, "E": None}
    assert build.build_args(args, path, "f", {"B_VAR": "from-env", "D": "d"}) == {"A": "fallback", "B": "from-env", "C": "plain $dollar", "D": "d"}
    assert build.build_args(["X=1", "Y"], path, "f", {"Y": "2"}) == {"X": "1", "Y": "2"}
    with pytest.raises(HarnessError, match="no default"):
        build.build_args({"A": "${MISSING}"}, path, "f", {})


def test_base_images_resolve_args_and_skip_stages():
    assert build.base_images(DOCKERFILE, {}) == ["kamiwaza-base/python:bookworm", "redis:7-bookworm"]
    assert build.base_images(DOCKERFILE, {"BASE_IMAGE": "kamiwaza-base/python:trixie"})[0] == "kamiwaza-base/python:trixie"


def test_created_time_prefers_source_date_epoch_then_the_commit():
    assert build.created_time({"SOURCE_DATE_EPOCH": "86400"}, "2024-05-01T10:00:00+02:00") == "1970-01-02T00:00:00Z"
    assert build.created_time({}, "2024-05-01T10:00:00+02:00") == "2024-05-01T08:00:00Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", build.created_time({}, None))


def test_public_url_drops_credentials():
    assert build.public_url("https://user:token@github.com/org/repo.git") == "https://github.com/org/repo.git"
    assert build.public_url("git@github.com:org/repo.git") == "git@github.com:org/repo.git"


def test_build_needs_a_name(sample_repo: Path, run_cli):
    code, _, err = run_cli(sample_repo, "build", "--type", "tool")
    assert code == 2
    assert "make build needs NAME" in err and "make build-all" in err


def test_build_without_an_engine_says_how_to_start_one(sample_repo: Path, run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    code, out, err = run_cli(sample_repo, "build-all")
    assert code == 2
    assert "no Docker engine answers" in err and "make bootstrap" in err
    assert "Traceback" not in out + err


# ----------------------------------------------------------------------------- real engine


def test_samples_are_built_with_dev_and_latest_tags(built_samples, docker_client):
    from release import docker

    assert sorted(built_samples.refs) == ["app/kaizen", "service/service-kv", "tool/mcp-time", "tool/tool-text-utils"]
    assert built_samples.refs["tool/mcp-time"] == ["kamiwazaai/mcp-time:0.4.0-dev"]  # its declared image: repository
    assert built_samples.refs["app/kaizen"] == ["kamiwazaai/kaizen-backend:1.0.1-dev", "kamiwazaai/kaizen-frontend:1.0.1-dev"]
    assert built_samples.refs["tool/tool-text-utils"] == ["kamiwazaai/tool-text-utils-mcp:1.2.0-dev"]
    for refs in built_samples.refs.values():
        for ref in refs:
            image = docker.local_image(docker_client, ref)
            assert image is not None, ref
            assert image.labels["org.opencontainers.image.version"] == images.split_ref(ref)[1].removesuffix("-dev")
            assert image.labels["org.opencontainers.image.title"] == images.split_ref(ref)[0]
            assert image.labels["org.opencontainers.image.source"].startswith("extensions/")


def test_make_build_tags_labels_and_summary(sample_repo: Path, run_cli, docker_client, unique_version, build_lock):
    """A git checkout gets the revision label; {version}-dev and latest name the same image."""
    from release import docker

    version = unique_version(sample_repo, "services/service-kv")
    subprocess.run(["git", "init", "-q"], cwd=sample_repo, check=True)
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "x"], cwd=sample_repo, check=True)
    revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=sample_repo, capture_output=True, text=True).stdout.strip()
    with build_lock():
        code, out, err = run_cli(sample_repo, "build", "--type", "service", "--name", "service-kv")
        assert code == 0, out + err
        dev = docker.local_image(docker_client, f"kamiwazaai/service-kv-api:{version}-dev")
        latest = docker.local_image(docker_client, "kamiwazaai/service-kv-api:latest")
    assert dev is not None and latest is not None and dev.id == latest.id
    assert dev.labels["org.opencontainers.image.revision"] == revision
    assert dev.labels["org.opencontainers.image.version"] == version
    assert dev.labels["org.opencontainers.image.source"] == "extensions/services/service-kv"
    commit_time = subprocess.run(["git", "log", "-1", "--format=%cI"], cwd=sample_repo, capture_output=True, text=True).stdout.strip()
    assert dev.labels["org.opencontainers.image.created"] == build.created_time({}, commit_time)
    assert "sync-compose service/service-kv: written" in out  # sync-compose ran first (new version)
    assert f"image: kamiwazaai/service-kv-api:{version}" in (sample_repo / "extensions/services/service-kv/docker-compose.appgarden.yml").read_text()
    assert f"building service/service-kv api -> kamiwazaai/service-kv-api:{version}-dev" in out
    header = next(line for line in out.splitlines() if line.startswith("extension"))
    assert header.split() == ["extension", "service", "image", "size", "time", "result"]
    assert any(line.startswith("service/service-kv") and line.rstrip().endswith("ok") and " MB " in line for line in out.splitlines())


def test_a_failed_build_names_the_service_and_shows_the_log_tail(sample_repo: Path, run_cli, unique_version):
    unique_version(sample_repo, "tools/tool-text-utils")
    dockerfile = sample_repo / "extensions/tools/tool-text-utils/server/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("EXPOSE 8000", "RUN echo tail-marker-of-the-log && exit 7\nEXPOSE 8000"))
    code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", "tool-text-utils")
    assert code == 1
    assert 'service "mcp" of tool/tool-text-utils failed to build' in err
    assert "server/Dockerfile" in err
    assert "FAILED tool/tool-text-utils mcp" in out and "| tail-marker-of-the-log" in out
    assert "Traceback" not in out + err


def test_a_missing_base_image_points_at_make_base_images(sample_repo: Path, run_cli, unique_version):
    unique_version(sample_repo, "tools/tool-text-utils")
    dockerfile = sample_repo / "extensions/tools/tool-text-utils/server/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("kamiwaza-base/python:bookworm", "kamiwaza-base/python:no-such-suite"))
    code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", "tool-text-utils")
    assert code == 1
    assert "kamiwaza-base/python:no-such-suite" in err and "make base-images" in err
