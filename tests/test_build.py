"""release/build.py and `make build`/`build-all`: pure planning, then real builds of the samples."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from release import build, compose, context_digest, extensions, images, manifest
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
    context = sample_repo / "extensions/services/service-kv/server"
    assert dev.labels["ai.kamiwaza.context-digest"] == context_digest.digest(context, context / "Dockerfile")
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
    line = dockerfile.read_text().splitlines().index("RUN echo tail-marker-of-the-log && exit 7") + 1
    assert f"server/Dockerfile [line {line}]" in err and f"fix Dockerfile line {line}" in err
    assert "FAILED tool/tool-text-utils mcp" in out and "| tail-marker-of-the-log" in out
    assert re.search(r"^  mcp: step \d+/\d+ RUN echo tail-marker-of-the-log && exit 7 \(\d+\.\d s\)$", out, re.M)  # streamed as it ran
    assert "\x1b[" not in out + err
    assert "Traceback" not in out + err


def test_a_missing_base_image_points_at_make_base_images(sample_repo: Path, run_cli, unique_version):
    unique_version(sample_repo, "tools/tool-text-utils")
    dockerfile = sample_repo / "extensions/tools/tool-text-utils/server/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("kamiwaza-base/python:bookworm", "kamiwaza-base/python:no-such-suite"))
    code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", "tool-text-utils")
    assert code == 1
    assert "kamiwaza-base/python:no-such-suite" in err and "make base-images" in err


def test_a_base_image_that_cannot_be_pulled_names_make_base_images(sample_repo: Path, run_cli, unique_version):
    """Outside the kamiwaza-base namespace the engine tries a pull; its failure gets the same hint."""
    unique_version(sample_repo, "tools/tool-text-utils")
    dockerfile = sample_repo / "extensions/tools/tool-text-utils/server/Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("kamiwaza-base/python:bookworm", "registry.invalid/kamiwaza/no-such-base:1"))
    code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", "tool-text-utils")
    assert code == 1, out + err
    assert "the base image registry.invalid/kamiwaza/no-such-base:1 is not in the local engine" in err
    assert "make base-images" in err and "docker load -i <file>" in err and "[line 3]" in err


# ----------------------------------------------------------------------------- build log and failure hints

STEPS_DOCKERFILE = """\
# syntax comment
ARG BASE_IMAGE=kamiwaza-base/python:bookworm

FROM ${BASE_IMAGE}
# a comment between instructions
RUN apt-get update \\
    # a comment inside a continuation
    && apt-get install -y curl
RUN pip install -r requirements.txt
COPY app.py /app/
"""
REBUILD = "run `make build TYPE=app NAME=x`"


def test_instructions_start_on_their_first_line():
    assert [line for line, _ in build.instructions(STEPS_DOCKERFILE)] == [2, 4, 6, 9, 10]
    assert build.instructions(STEPS_DOCKERFILE)[2][1].split() == ["RUN", "apt-get", "update", "&&", "apt-get", "install", "-y", "curl"]


def test_steps_become_one_progress_line_each():
    step = build.parse_step("Step 3/7 : RUN apt-get update   && apt-get install -y curl")
    assert step == build.Step(3, 7, "RUN apt-get update   && apt-get install -y curl")
    assert build.progress_line("backend", step, 12.44) == "  backend: step 3/7 RUN apt-get update && apt-get install -y curl (12.4 s)"
    assert build.parse_step(" ---> Running in 7d609435ec4f") is None


def test_a_parse_error_names_its_line():
    found = build.diagnose("Dockerfile", STEPS_DOCKERFILE, {}, [], "dockerfile parse error line 8: unknown instruction: FROOB", REBUILD)
    assert found.line == 8 and "Dockerfile line 8" in found.fix


def test_a_failing_step_names_its_dockerfile_line():
    log_lines = ["Step 1/5 : ARG BASE_IMAGE=x", "Step 2/5 : FROM ${BASE_IMAGE}", "Step 3/5 : RUN apt-get update && apt-get install -y curl", "E: Unable to locate package curl"]
    found = build.diagnose("Dockerfile", STEPS_DOCKERFILE, {}, log_lines, "The command '/bin/sh -c apt-get ...' returned a non-zero code: 100", REBUILD)
    assert found.line == 6 and "step 3/5 (Dockerfile line 6: RUN apt-get update" in found.message and "fix Dockerfile line 6" in found.fix


@pytest.mark.parametrize(
    "error",
    [
        'Get "https://registry-1.docker.io/v2/": dial tcp: lookup registry-1.docker.io on 10.0.0.53:53: no such host',
        "pull access denied for kamiwaza-base/python, repository does not exist or may require 'docker login'",
    ],
)
def test_a_missing_base_image_names_make_base_images_and_docker_load(error: str):
    log_lines = ["Step 1/5 : ARG BASE_IMAGE=kamiwaza-base/python:bookworm", "Step 2/5 : FROM ${BASE_IMAGE}"]
    found = build.diagnose("Dockerfile", STEPS_DOCKERFILE, {"BASE_IMAGE": "kamiwaza-base/python:trixie"}, log_lines, error, REBUILD)
    assert found.line == 4 and "kamiwaza-base/python:trixie" in found.message
    assert "make base-images" in found.fix and "docker load -i <file>" in found.fix and "kamiwaza-base/python:trixie" in found.fix


@pytest.mark.parametrize(
    "output",
    [
        "WARNING: Retrying ... SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed'))",
        "ERROR: Could not find a version that satisfies the requirement fastapi (from versions: none)\nERROR: No matching distribution found for fastapi",
        "npm ERR! code ENOTFOUND\nnpm ERR! network request to https://registry.npmjs.org/x failed",
    ],
)
def test_pip_or_npm_without_network_points_at_the_vendored_wheels_recipe(output: str):
    log_lines = ["Step 4/5 : RUN pip install -r requirements.txt", *output.splitlines()]
    found = build.diagnose("Dockerfile", STEPS_DOCKERFILE, {}, log_lines, "The command '/bin/sh -c pip install -r requirements.txt' returned a non-zero code: 1", REBUILD)
    assert found.line == 9
    assert "Images without a registry pull" in found.fix and "pip download --only-binary=:all:" in found.fix


def test_an_unknown_failure_still_says_what_to_do():
    found = build.diagnose("Dockerfile", "", {}, [], "the builder returned no image id", REBUILD)
    assert found.line is None and "read the build log above" in found.fix and REBUILD in found.fix


def test_captured_log_lines_lose_their_ansi_codes():
    from release import docker

    assert docker.clean_line("\x1b[1;31mERROR\x1b[0m: no \x1b]8;;http://x\x07link\x1b]8;;\x07") == "ERROR: no link"
    assert docker.clean_line("  10%\r  55%\r 100% done\r") == " 100% done"


def test_python_m_release_build_from_inside_an_extension_builds_it(harness_copy: Path, unique_version, build_lock, docker_client):
    """The spec's loop: `cd extensions/tools/x && python3 -m release build`, no TYPE, NAME or --root."""
    from release import docker

    from tests.conftest import copy_env

    version = unique_version(harness_copy, "tools/tool-text-utils")
    folder = harness_copy / "extensions/tools/tool-text-utils"
    with build_lock():
        result = subprocess.run([sys.executable, "-m", "release", "build"], cwd=folder, env=copy_env(harness_copy), capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"built kamiwazaai/tool-text-utils-mcp:{version}-dev" in result.stdout
    assert docker.local_image(docker_client, f"kamiwazaai/tool-text-utils-mcp:{version}-dev") is not None
