"""release/push.py and `make push`: pure planning, then pushes to a private registry with htpasswd auth."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from release import compose, extensions, images, manifest, push
from release.errors import HarnessError


def _plan(root: Path, name: str, stage: str, prefix: str = "") -> list[push.PushItem]:
    extension = next(e for e in extensions.discover(root) if e.name == name)
    return push.plan(extension, manifest.load(extension.manifest_path), compose.load_compose(extension.compose_path), stage, prefix)


@pytest.mark.parametrize(
    ("value", "prefix"),
    [
        (None, ""),
        ("", ""),
        ("docker.io", ""),
        ("kamiwazaai", ""),
        ("docker.io/kamiwazaai", ""),
        ("127.0.0.1:5000", "127.0.0.1:5000"),
        ("127.0.0.1:5000/", "127.0.0.1:5000"),
        ("ghcr.io/kamiwazaai", "ghcr.io"),
        ("registry.example.com/mirror", "registry.example.com/mirror"),
        ("localhost", "localhost"),
    ],
)
def test_registry_prefix(value, prefix):
    assert push.registry_prefix(value) == prefix


@pytest.mark.parametrize("value", ["https://registry.example.com", "myorg"])
def test_registry_prefix_refuses_urls_and_bare_names(value):
    with pytest.raises(HarnessError) as caught:
        push.registry_prefix(value)
    assert "IMAGE_REGISTRY" in caught.value.render()


@pytest.mark.parametrize(("stage", "tag"), [("dev", "1.0.1-dev"), ("stage", "1.0.1-stage"), ("prod", "1.0.1")])
def test_plan_tags_each_stage_from_the_dev_build(sample_repo: Path, stage: str, tag: str):
    items = _plan(sample_repo, "kaizen", stage)
    assert [(i.service, i.source, i.target) for i in items] == [
        ("backend", "kamiwazaai/kaizen-backend:1.0.1-dev", f"kamiwazaai/kaizen-backend:{tag}"),
        ("frontend", "kamiwazaai/kaizen-frontend:1.0.1-dev", f"kamiwazaai/kaizen-frontend:{tag}"),
    ]
    assert all(images.split_ref(i.target)[1] == images.stage_tag("1.0.1", stage) for i in items)


def test_plan_with_a_registry_and_never_latest(sample_repo: Path):
    items = _plan(sample_repo, "tool-text-utils", "prod", "127.0.0.1:5000")
    assert [i.target for i in items] == ["127.0.0.1:5000/kamiwazaai/tool-text-utils-mcp:1.2.0"]
    for stage in images.STAGES:
        assert all(not i.target.endswith(f":{images.LOCAL_ONLY_TAG}") for i in _plan(sample_repo, "kaizen", stage, "r.example.com"))


def test_dry_run_prod_lists_exactly_the_version_tags_without_an_engine(sample_repo: Path, run_cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/none.sock")
    code, out, err = run_cli(sample_repo, "push", "--type", "tool", "--name", "tool-text-utils", "--stage", "prod", "--dry-run")
    assert code == 0, err
    assert re.findall(r"^  would push (\S+)", out, re.M) == ["kamiwazaai/tool-text-utils-mcp:1.2.0"]
    assert "the local images were not checked" in err


def test_push_needs_a_name(sample_repo: Path, run_cli):
    code, _, err = run_cli(sample_repo, "push", "--stage", "prod")
    assert code == 2 and "make push needs NAME" in err


# ----------------------------------------------------------------------------- real engine


def test_dry_run_checks_the_local_images(built_samples, run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMAGE_REGISTRY", "127.0.0.1:5999")
    code, out, err = run_cli(built_samples.root, "push", "--type", "app", "--name", "kaizen", "--stage", "prod", "--dry-run")
    assert code == 0, err
    assert re.findall(r"^  would push (\S+)", out, re.M) == ["127.0.0.1:5999/kamiwazaai/kaizen-backend:1.0.1", "127.0.0.1:5999/kamiwazaai/kaizen-frontend:1.0.1"]
    assert "every local image is present" in out


def test_a_missing_image_suggests_make_build_or_build_1(sample_repo: Path, run_cli, unique_version, docker_client):
    version = unique_version(sample_repo, "tools/tool-text-utils")
    code, out, err = run_cli(sample_repo, "push", "--type", "tool", "--name", "tool-text-utils", "--stage", "prod")
    assert code == 2
    assert f'image "kamiwazaai/tool-text-utils-mcp:{version}-dev" is not in the local engine' in err
    assert "make build TYPE=tool NAME=tool-text-utils" in err and "BUILD=1" in err
    assert "pushing" not in out


def test_an_unauthenticated_push_is_refused(built_samples, image_registry, docker_config, run_cli, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("IMAGE_REGISTRY", image_registry.host)
    code, out, err = run_cli(built_samples.root, "push", "--type", "tool", "--name", "tool-text-utils", "--stage", "stage")
    assert code == 2
    assert f"{image_registry.host} refused the push of {image_registry.host}/kamiwazaai/tool-text-utils-mcp:1.2.0-stage" in err
    assert f"docker login {image_registry.host}" in err
    assert image_registry.tags("kamiwazaai/tool-text-utils-mcp") in ([], ["1.2.0"])  # nothing landed from this push


def test_an_authenticated_push_lands_with_the_local_digest(built_samples, image_registry, logged_in, run_cli, monkeypatch: pytest.MonkeyPatch, docker_client):
    from release import docker

    monkeypatch.setenv("IMAGE_REGISTRY", image_registry.host)
    code, out, err = run_cli(built_samples.root, "push", "--type", "tool", "--name", "tool-text-utils", "--stage", "prod")
    assert code == 0, out + err
    target = f"{image_registry.host}/kamiwazaai/tool-text-utils-mcp:1.2.0"
    assert f"pushing {target} (from kamiwazaai/tool-text-utils-mcp:1.2.0-dev)" in out
    digest = re.search(rf"pushed {re.escape(target)} (sha256:[0-9a-f]{{64}})", out).group(1)
    tags = image_registry.tags("kamiwazaai/tool-text-utils-mcp")
    assert "1.2.0" in tags and images.LOCAL_ONLY_TAG not in tags
    assert image_registry.manifest_digest("kamiwazaai/tool-text-utils-mcp", "1.2.0") == digest
    local = docker.local_image(docker_client, target)
    assert f"{image_registry.host}/kamiwazaai/tool-text-utils-mcp@{digest}" in local.repo_digests
    assert image_registry.password not in out + err


def test_build_1_builds_then_pushes_every_service_and_never_latest(sample_repo: Path, image_registry, logged_in, run_cli, monkeypatch: pytest.MonkeyPatch, unique_version, build_lock):
    version = unique_version(sample_repo, "apps/kaizen")
    monkeypatch.setenv("IMAGE_REGISTRY", image_registry.host)
    with build_lock():
        code, out, err = run_cli(sample_repo, "push", "--type", "app", "--name", "kaizen", "--build")
    assert code == 0, out + err
    assert f"built kamiwazaai/kaizen-backend:{version}-dev" in out
    for service in ("backend", "frontend"):
        tags = image_registry.tags(f"kamiwazaai/kaizen-{service}")
        assert f"{version}-dev" in tags and images.LOCAL_ONLY_TAG not in tags
    assert re.findall(r"pushing (\S+)", out) == [f"{image_registry.host}/kamiwazaai/kaizen-{s}:{version}-dev" for s in ("backend", "frontend")]


def test_push_with_since_selects_changed_extensions_without_name(sample_repo, run_cli):
    import subprocess

    def git(*args):
        subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=sample_repo, check=True, capture_output=True)

    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "base")
    (sample_repo / "extensions/tools/tool-text-utils/README.md").write_text("changed\n")
    code, out, err = run_cli(sample_repo, "push", "--since", "HEAD", "--stage", "prod", "--dry-run", "--build")
    assert code == 0, err
    assert "selected tool/tool-text-utils: README.md changed since HEAD" in out
    pushed = [line.split()[2] for line in out.splitlines() if line.strip().startswith("would push ")]
    assert pushed == ["kamiwazaai/tool-text-utils-mcp:1.2.0"]


def test_a_stale_image_is_refused_unless_build_1(sample_repo: Path, image_registry, logged_in, run_cli, monkeypatch: pytest.MonkeyPatch, unique_version, build_lock):
    version = unique_version(sample_repo, "tools/tool-text-utils")
    monkeypatch.setenv("IMAGE_REGISTRY", image_registry.host)
    selector = ("--type", "tool", "--name", "tool-text-utils", "--stage", "stage")
    with build_lock():
        code, out, err = run_cli(sample_repo, "build", "--type", "tool", "--name", "tool-text-utils")
    assert code == 0, out + err
    server = sample_repo / "extensions/tools/tool-text-utils/server/mcp_server.py"
    server.write_text(server.read_text() + "\n# edited after the build\n")

    code, out, err = run_cli(sample_repo, "push", *selector)
    assert code == 2
    assert f'image "kamiwazaai/tool-text-utils-mcp:{version}-dev" (service mcp) is built from older sources' in err and "BUILD=1" in err
    assert "pushing" not in out and f"{version}-stage" not in image_registry.tags("kamiwazaai/tool-text-utils-mcp")

    with build_lock():
        code, out, err = run_cli(sample_repo, "push", *selector, "--build")
    assert code == 0, out + err
    assert f"{version}-stage" in image_registry.tags("kamiwazaai/tool-text-utils-mcp")


def test_a_declared_image_with_its_own_registry_host_is_pushed_there():
    assert push.target_ref("kamiwazaai/mcp-time:1.0.0", "127.0.0.1:5000") == "127.0.0.1:5000/kamiwazaai/mcp-time:1.0.0"
    assert push.target_ref("ghcr.io/acme/tool:1.0.0", "127.0.0.1:5000") == "ghcr.io/acme/tool:1.0.0"
    assert push.target_ref("localhost:5000/tool:1.0.0", "r.example.com") == "localhost:5000/tool:1.0.0"
