"""release/package.py and release/docker.py: the distribution tarball, its safety and checksums."""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import tarfile
import uuid
from pathlib import Path

import pytest

from release import docker as engine
from release import package, registry
from release.errors import HarnessError
from tests.plugins.infra import unavailable
from tests.test_registry import EPOCH, build, edit_manifest, write_appgarden

ENV = {"SOURCE_DATE_EPOCH": EPOCH}


@pytest.fixture
def repo(sample_repo: Path) -> Path:
    return sample_repo
NAME = "kamiwaza-registry-20231114-221320.tar.gz"
GARDEN = "kamiwaza-extension-registry/garden/v2"
FILES = [
    "SHA256SUMS",
    f"{GARDEN}/apps.json",
    f"{GARDEN}/images/kaizen.svg",
    f"{GARDEN}/images/mcp-time.svg",
    f"{GARDEN}/images/service-kv.svg",
    f"{GARDEN}/images/tool-text-utils.svg",
    f"{GARDEN}/tools.json",
    "registry.json",
]


def members(path: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(path, "r:gz") as tar:
        return {info.name: info for info in tar.getmembers()}


def contents(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {info.name: tar.extractfile(info).read() for info in tar.getmembers() if info.isreg()}


def test_tarball_contents_and_checksums_verify(repo):
    build(repo, "prod")
    result = package.package_registry(repo, env=ENV)
    assert result.path == repo / "dist" / NAME and result.stage == "prod" and not result.rebuilt
    assert list(result.members) == FILES
    infos = members(result.path)
    assert sorted(n for n, i in infos.items() if i.isreg()) == FILES
    assert sorted(n for n, i in infos.items() if i.isdir()) == [
        "kamiwaza-extension-registry",
        "kamiwaza-extension-registry/garden",
        GARDEN,
        f"{GARDEN}/images",
    ]
    for info in infos.values():
        assert package.member_problems(info) == []
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", int(EPOCH))
        assert info.mode == (0o755 if info.isdir() else 0o644)
    files = contents(result.path)
    for name, data in files.items():
        if name != "SHA256SUMS":
            assert data == (repo / "build" / name).read_bytes()
    sums = dict(reversed(line.split("  ", 1)) for line in files["SHA256SUMS"].decode().splitlines())
    assert sums == {name: hashlib.sha256(data).hexdigest() for name, data in files.items() if name != "SHA256SUMS"}
    assert package.verify_package(result.path, mtime=int(EPOCH)) == []
    raw = result.path.read_bytes()
    assert raw[:2] == b"\x1f\x8b" and int.from_bytes(raw[4:8], "little") == int(EPOCH)


def test_same_input_gives_the_same_archive_bytes(repo, tmp_path):
    build(repo)
    first = package.package_registry(repo, env=ENV, dist_dir=tmp_path / "a").path.read_bytes()
    build(repo)  # new files, new mtimes, same content
    second = package.package_registry(repo, env=ENV, dist_dir=tmp_path / "b").path.read_bytes()
    assert first == second


def test_missing_registry_is_built_first(repo):
    result = package.package_registry(repo, env=ENV)
    assert result.rebuilt and result.stage == "dev"
    assert (repo / "build" / "registry.json").is_file()
    assert json.loads(contents(result.path)["registry.json"])["stage"] == "dev"


def test_registry_older_than_the_tree_is_rebuilt(repo):
    build(repo, "stage")
    assert not package.registry_is_stale(repo, repo / "build")
    registry_file = repo / "build" / "registry.json"
    built = registry_file.stat().st_mtime_ns - 10_000_000_000
    os.utime(registry_file, ns=(built, built))  # built 10 s ago ...
    edited = built + 1_000_000_000
    os.utime(repo / "extensions/apps/kaizen/README.md", ns=(edited, edited))  # ... and edited after that
    assert package.registry_is_stale(repo, repo / "build")
    result = package.package_registry(repo, env=ENV)
    assert result.rebuilt and result.stage == "stage"  # the stage it was built for is kept
    assert not package.registry_is_stale(repo, repo / "build")
    assert not package.package_registry(repo, env=ENV).rebuilt


def test_an_explicit_other_stage_rebuilds(repo, run_cli, monkeypatch):
    build(repo, "dev")
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    code, out, err = run_cli(repo, "package-registry", "--stage", "prod")
    assert code == 0, err
    assert "STAGE=prod" in out and f"dist/{NAME}" in out
    assert json.loads(contents(repo / "dist" / NAME)["registry.json"])["stage"] == "prod"


def test_an_invalid_manifest_stops_packaging(repo, run_cli):
    edit_manifest(repo, "apps/kaizen", version="one")
    code, _, err = run_cli(repo, "package-registry")
    assert code == 2 and "[$.version]" in err
    assert not (repo / "dist").exists() or not any((repo / "dist").iterdir())


def test_a_tampered_garden_is_refused(repo):
    build(repo)
    (registry.garden_path(repo / "build") / "tools.json").write_text("[]\n")
    os.utime(repo / "build" / "registry.json")  # keep it fresh so no rebuild hides the damage
    with pytest.raises(HarnessError, match="differ from registry.json"):
        package.package_registry(repo, env=ENV)


def test_symlinks_are_refused(repo, tmp_path):
    build(repo)
    (tmp_path / "secret").write_text("x")
    (registry.garden_path(repo / "build") / "images" / "link.svg").symlink_to(tmp_path / "secret")
    with pytest.raises(HarnessError, match="symbolic link"):
        package.collect_files(repo / "build")


@pytest.mark.parametrize(
    ("name", "kind", "reason"),
    [
        ("../escape", tarfile.REGTYPE, "'..'"),
        ("a/../../b", tarfile.REGTYPE, "'..'"),
        ("/etc/passwd", tarfile.REGTYPE, "absolute"),
        ("link", tarfile.SYMTYPE, "link"),
        ("hard", tarfile.LNKTYPE, "link"),
    ],
)
def test_unsafe_members_are_named(name, kind, reason):
    info = tarfile.TarInfo(name)
    info.type = kind
    assert any(reason in problem for problem in package.member_problems(info))


def test_owner_must_be_normalised():
    info = tarfile.TarInfo("registry.json")
    info.uid, info.uname = 1000, "dev"
    assert package.member_problems(info) == ["owner not normalised"]


def test_verify_package_catches_bad_checksums_and_unsafe_members(tmp_path):
    path = tmp_path / "bad.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for name, data in (("SHA256SUMS", b"0" * 64 + b"  registry.json\n" + b"1" * 64 + b"  gone.json\n"), ("registry.json", b"{}"), ("../x", b"")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    text = "\n".join(p.render() for p in package.verify_package(path))
    assert '"registry.json" does not match its checksum' in text
    assert 'lists "gone.json"' in text
    assert '"../x" is not listed' in text and "member \"../x\": '..' in the path" in text


def test_images_flag_adds_saved_archives_covered_by_the_checksums(repo):
    build(repo)
    asked = []

    def fake_save(refs, dest):
        asked.extend(refs)
        dest.mkdir(parents=True)
        saved = {}
        for ref in refs:
            saved[ref] = dest / (ref.replace("/", "_").replace(":", "_") + ".tar")
            saved[ref].write_bytes(ref.encode())
        return saved

    result = package.package_registry(repo, images=True, env=ENV, saver=fake_save)
    assert asked == [
        "kamiwazaai/kaizen-backend:1.0.1-dev",
        "kamiwazaai/kaizen-frontend:1.0.1-dev",
        "kamiwazaai/mcp-time:0.4.0-dev",
        "kamiwazaai/service-kv-api:0.3.0-dev",
        "kamiwazaai/tool-text-utils-mcp:1.2.0-dev",
        "redis:7-bookworm",
    ]
    files = contents(result.path)
    assert files["images/redis_7-bookworm.tar"] == b"redis:7-bookworm"
    assert "images/redis_7-bookworm.tar" in files["SHA256SUMS"].decode()
    assert package.verify_package(result.path) == []
    assert [p.name for p in (repo / "dist").iterdir()] == [NAME]  # no scratch left behind


def test_images_flag_also_saves_the_manifests_extra_images(repo):
    path = repo / "extensions/tools/tool-text-utils/kamiwaza.json"
    data = json.loads(path.read_text())
    data["extra_docker_images"] = ["kamiwazaai/tool-text-utils-model:{version}", "busybox:1.36"]
    path.write_text(json.dumps(data, indent=2) + "\n")
    build(repo)
    asked = []

    def fake_save(refs, dest):
        asked.extend(refs)
        dest.mkdir(parents=True)
        return {ref: _touch(dest / (ref.replace("/", "_").replace(":", "_") + ".tar")) for ref in refs}

    package.package_registry(repo, images=True, env=ENV, saver=fake_save)
    assert "kamiwazaai/tool-text-utils-model:1.2.0-dev" in asked and "busybox:1.36" in asked


def _touch(path):
    path.write_bytes(b"archive")
    return path


def test_images_flag_must_be_yes_or_no(repo, run_cli, monkeypatch):
    monkeypatch.setenv("IMAGES", "perhaps")
    code, _, err = run_cli(repo, "package-registry")
    assert code == 2 and "IMAGES" in err


def test_no_engine_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:9")
    with pytest.raises(HarnessError) as caught:
        engine.engine()
    assert "make bootstrap" in caught.value.render() and "dockerd &" in caught.value.render()


# --------------------------------------------------------------------------- with a real engine


@pytest.fixture
def docker_client():
    try:
        client = engine.engine()
    except HarnessError:
        unavailable("a Docker engine", "start one with `make bootstrap` or `dockerd &`")
    yield client
    client.close()


def _tiny_image(client, tag: str) -> None:
    """A FROM scratch image holding one small file."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, data in (("Dockerfile", b"FROM scratch\nCOPY hello /hello\n"), ("hello", b"hello\n")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    context.seek(0)
    client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True)


@pytest.mark.docker
def test_images_flag_saves_the_entries_images_with_docker(repo, docker_client):
    shutil.rmtree(repo / "extensions" / "apps" / "kaizen")  # keep external images (redis) out: tiny images only
    shutil.rmtree(repo / "extensions" / "tools" / "mcp-time")  # two images are enough for this test
    version = f"0.0.0-rc.{uuid.uuid4().int % 10**8}"  # a tag no real build uses
    for relative in ("services/service-kv", "tools/tool-text-utils"):
        edit_manifest(repo, relative, version=version)
    write_appgarden(repo)
    refs = [f"kamiwazaai/service-kv-api:{version}-dev", f"kamiwazaai/tool-text-utils-mcp:{version}-dev"]
    _tiny_image(docker_client, refs[0])
    try:
        with pytest.raises(HarnessError) as caught:
            package.package_registry(repo, images=True, env=ENV)
        assert f'image "{refs[1]}" is not in the local Docker engine' in caught.value.render()
        assert not any((repo / "dist").iterdir())
        docker_client.images.get(refs[0]).tag(refs[1])
        result = package.package_registry(repo, images=True, env=ENV)
        files = contents(result.path)
        saved = sorted(name for name in files if name.startswith("images/"))
        assert saved == [f"images/{r.replace('/', '_').replace(':', '_')}.tar" for r in refs]
        with tarfile.open(fileobj=io.BytesIO(files[saved[0]])) as archive:
            index = json.loads(archive.extractfile("manifest.json").read())
        assert index[0]["RepoTags"] == [refs[0]]
        assert package.verify_package(result.path) == []
    finally:
        for ref in refs:
            try:
                docker_client.images.remove(ref, noprune=False)
            except Exception:  # noqa: BLE001 - best-effort cleanup of test tags
                pass
