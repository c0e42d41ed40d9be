"""release/image_check.py: which images a publish needs, pinning, and the publish refusing what is not pushed.

The pure part runs on hand-made entries; the end-to-end part publishes a scaffolded tool to
moto_server while Debian's docker-registry (htpasswd) serves, or does not yet serve, its image.
"""

from __future__ import annotations

import io
import json
import re
import tarfile
import uuid
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from release import build, compose, config, extensions, image_check, merge, registry
from release.errors import HarnessError
from release.image_check import User, Wanted
from tests.plugins.infra import free_port
from tests.test_publish import green, make_repo, remote_catalog, set_manifest

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
HEADER = "# GENERATED FILE - do not edit by hand.\n# Made by `make sync-compose`.\n"
COMPOSE = HEADER + compose.dump_yaml({
    "services": {
        "web": {"image": "kamiwazaai/shop-web:1.0.0", "ports": ["8000"], "environment": {"PORT": "8000"}},
        "db": {"image": "postgres:16"},
        "cache": {"image": "redis:7-bookworm"},
    },
    "volumes": {"data": None},
})


def entry(**extra) -> dict:
    return {
        "name": "shop", "version": "1.0.0", "template_type": "app", "compose_yml": COMPOSE,
        "docker_images": ["kamiwazaai/shop-web:1.0.0", "postgres:16", "redis:7-bookworm"], **extra,
    }


# --------------------------------------------------------------------------- pure: which images


def test_entry_images_are_the_project_images_of_every_field_once():
    found = image_check.entry_images(entry(image="kamiwazaai/shop-mcp:1.0.0", extra_docker_images=["kamiwazaai/shop-worker:1.0.0", "busybox:1", "kamiwazaai/shop-web:1.0.0"]))
    assert found == ["kamiwazaai/shop-web:1.0.0", "kamiwazaai/shop-mcp:1.0.0", "kamiwazaai/shop-worker:1.0.0"]


def test_postgres_and_redis_are_never_looked_up():
    assert image_check.entry_images({"name": "x", "docker_images": ["postgres:16", "redis:7"]}) == []


def test_wanted_deduplicates_across_entries_and_names_every_user():
    other = entry(name="shop-2", template_type="service", version="2.0.0")
    found = image_check.wanted({"apps.json": [entry(), other], "tools.json": []})
    assert found == [Wanted("kamiwazaai/shop-web:1.0.0", (User("app", "shop", "1.0.0"), User("service", "shop-2", "2.0.0")))]


def test_a_pinned_entry_asks_for_its_tag():
    pinned = image_check.pin_entry(entry(), {"kamiwazaai/shop-web:1.0.0": DIGEST_A})
    assert image_check.entry_images(pinned) == ["kamiwazaai/shop-web:1.0.0"]


def test_missing_lines_carry_the_exact_push_command():
    item = Wanted("kamiwazaai/tool-a-mcp:1.2.0", (User("tool", "tool-a", "1.2.0"),))
    [problem] = image_check.missing_problems([item], "prod", "127.0.0.1:5000")
    text = problem.render()
    assert "image 127.0.0.1:5000/kamiwazaai/tool-a-mcp:1.2.0 (used by tool-a 1.2.0) is not in 127.0.0.1:5000" in text
    assert "`STAGE=prod make push TYPE=tool NAME=tool-a IMAGE_REGISTRY=127.0.0.1:5000`" in text
    assert image_check.push_command("stage", User("app", "shop", "1"), "") == "STAGE=stage make push TYPE=app NAME=shop"


# --------------------------------------------------------------------------- pure: pinning


def test_pin_entry_pins_project_images_in_docker_images_and_compose_keeping_the_header():
    pinned = image_check.pin_entry(entry(image="kamiwazaai/shop-web:1.0.0"), {"kamiwazaai/shop-web:1.0.0": DIGEST_A})
    ref = f"kamiwazaai/shop-web:1.0.0@{DIGEST_A}"
    assert pinned["docker_images"] == [ref, "postgres:16", "redis:7-bookworm"]
    assert pinned["image"] == ref
    assert pinned["compose_yml"].startswith(HEADER)
    document = compose.parse_yaml(pinned["compose_yml"])
    assert [s["image"] for s in document["services"].values()] == [ref, "postgres:16", "redis:7-bookworm"]
    assert pinned["compose_yml"] == COMPOSE.replace("kamiwazaai/shop-web:1.0.0", ref), "only the image line moves"
    # the registry's own rule (docker_images equals what compose_yml and image use, stage tags) still holds
    assert registry._stage_problems({**pinned, "version": "1.0.0"}, "prod", None, "$") == []


def test_pinning_is_idempotent_and_a_new_digest_replaces_the_old():
    digests = {"kamiwazaai/shop-web:1.0.0": DIGEST_A}
    once = image_check.pin_entry(entry(), digests)
    assert image_check.pin_entry(once, digests) == once
    again = image_check.pin_entry(once, {"kamiwazaai/shop-web:1.0.0": DIGEST_B})
    assert again["docker_images"][0] == f"kamiwazaai/shop-web:1.0.0@{DIGEST_B}" and DIGEST_A not in again["compose_yml"]


def test_an_entry_without_known_digests_is_returned_as_it_was():
    assert image_check.pin_entry(entry(), {}) == entry()


def test_pin_ref_refuses_what_is_not_a_digest():
    with pytest.raises(ValueError):
        image_check.pin_ref("kamiwazaai/a:1", "latest")


refs = st.builds(lambda ext, svc, tag: f"kamiwazaai/{ext}-{svc}:{tag}", st.sampled_from(["a", "bb", "c-d"]), st.sampled_from(["web", "api"]),
                 st.sampled_from(["1.0.0", "1.0.0-dev", "2.1.0-rc.1-stage"]))
digests = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@given(st.dictionaries(refs, digests, min_size=1, max_size=4), st.lists(st.sampled_from(["postgres:16", "redis:7", "busybox"]), max_size=2))
def test_pinning_properties(known, others):
    images = sorted({*known, *others})
    document = {"services": {f"s{i}": {"image": ref} for i, ref in enumerate(images)}}
    item = {"name": "x", "version": "1.0.0", "compose_yml": HEADER + compose.dump_yaml(document), "docker_images": images}
    pinned = image_check.pin_entry(item, known)
    assert sorted(registry.images_in(pinned["compose_yml"])) == sorted(pinned["docker_images"])
    for ref in pinned["docker_images"]:
        assert (image_check.digest_of(ref) == known[image_check.unpinned(ref)]) if ref.startswith("kamiwazaai/") else "@" not in ref
    assert image_check.is_pinned(pinned) is True
    assert image_check.pin_entry(pinned, known) == pinned


def test_is_pinned():
    assert image_check.is_pinned(entry()) is False
    assert image_check.is_pinned(image_check.pin_entry(entry(), {"kamiwazaai/shop-web:1.0.0": DIGEST_A})) is True
    assert image_check.is_pinned({"docker_images": ["redis:7"]}) is None


# --------------------------------------------------------------------------- pure: settings and the merge message


@pytest.mark.parametrize(("stage", "value", "pins"), [("prod", None, True), ("dev", None, False), ("stage", None, False), ("prod", "0", False), ("dev", "1", True)])
def test_pin_digests_defaults_on_for_prod(tmp_path, stage, value, pins):
    settings = config.resolve({}, root=tmp_path, environ={} if value is None else {"PIN_DIGESTS": value})
    assert image_check.pin_digests(settings, stage) is pins


def test_a_bad_flag_value_is_bad_input(tmp_path):
    with pytest.raises(HarnessError) as caught:
        image_check.skip_check(config.resolve({}, root=tmp_path, environ={"SKIP_IMAGE_CHECK": "maybe"}))
    assert caught.value.exit_code == 2 and "SKIP_IMAGE_CHECK" in caught.value.render()


def test_the_merge_fails_a_changed_digest_under_one_version_and_says_so():
    published = image_check.pin_entry(entry(kamiwaza_version=""), {"kamiwazaai/shop-web:1.0.0": DIGEST_A})
    rebuilt = image_check.pin_entry(published, {"kamiwazaai/shop-web:1.0.0": DIGEST_B})
    [decision] = merge.plan([published], [rebuilt]).decisions
    assert decision.action is merge.Action.FAIL
    assert "the image digest changed" in decision.reason and DIGEST_A in decision.reason and DIGEST_B in decision.reason
    assert "versions are immutable" in decision.reason
    assert merge.plan([published], [rebuilt], force=True).decisions[0].action is merge.Action.REPLACE
    assert merge.plan([published], [published]).decisions[0].action is merge.Action.UNCHANGED


# --------------------------------------------------------------------------- end to end: registry + moto


def tiny_image(client, ref: str, content: str, root: Path) -> None:
    """A one-file image FROM scratch, built in a second or two, tagged `ref`, and labelled as
    built from the current sources of the extension it stands in for (so `make push` takes it)."""
    data = io.BytesIO()
    with tarfile.open(fileobj=data, mode="w") as archive:
        for name, body in (("Dockerfile", b"FROM scratch\nCOPY payload /payload\n"), ("payload", content.encode())):
            info = tarfile.TarInfo(name)
            info.size = len(body)
            archive.addfile(info, io.BytesIO(body))
    data.seek(0)
    name = ref.split("/", 1)[1].rsplit(":", 1)[0].rsplit("-", 1)[0]  # kamiwazaai/{extension}-{service}:tag
    extension = next(e for e in extensions.discover(root) if e.name == name)
    labels = {build.LABEL_CONTEXT_DIGEST: build.source_digest(spec) for spec in build.specs_of(extension, {})}
    image, _ = client.images.build(fileobj=data, custom_context=True, rm=True, labels=labels)
    repository, tag = ref.rsplit(":", 1)
    image.tag(repository, tag)


@pytest.fixture
def tool(tmp_path, docker_client):
    """A scaffolded tool with a unique name at 1.0.0, and its local `-dev` build (a tiny image)."""
    name = f"tool-img-{uuid.uuid4().hex[:8]}"
    root = make_repo(tmp_path / "repo", ("tool", name))
    set_manifest(root, name, version="1.0.0")
    green(root)
    yield root, name
    for image in docker_client.images.list():
        for tag in image.tags:
            if f"kamiwazaai/{name}-" in tag:
                docker_client.images.remove(tag, noprune=False)


@pytest.fixture
def prod(bucket_cli, image_registry, logged_in):
    """Run a command for STAGE=prod against the test registry, with the image check on."""

    def run(root: Path, *args: str, **env: str):
        return bucket_cli(root, *args, "--stage", "prod", IMAGE_REGISTRY=image_registry.host, SKIP_IMAGE_CHECK="0", **env)

    return run


def test_a_publish_is_refused_until_the_images_are_pushed_then_pinned_unchanged_and_immutable(tool, prod, image_registry, docker_client, s3_bucket):
    root, name = tool
    repository = f"kamiwazaai/{name}-mcp"
    target = f"{image_registry.host}/{repository}:1.0.0"

    # not pushed: DRY_RUN and a real publish are both refused, naming the image and the push command
    for dry in (("--dry-run",), ()):
        code, out, err = prod(root, "publish-registry", *dry)
        assert code == 1, out + err
        assert f"image {target} (used by {name} 1.0.0) is not in {image_registry.host}" in err
        assert f"`STAGE=prod make push TYPE=tool NAME={name} IMAGE_REGISTRY={image_registry.host}`" in err
        assert s3_bucket.objects() == {}, "nothing is published, not even the lock"

    # pushed with `make push`: published pinned to the digest the registry serves
    tiny_image(docker_client, f"{repository}:1.0.0-dev", "first build", root)
    code, out, err = prod(root, "push", "--type", "tool", "--name", name)
    assert code == 0, out + err
    digest = image_registry.manifest_digest(repository, "1.0.0")
    code, out, err = prod(root, "publish-registry")
    assert code == 0, out + err
    [published] = remote_catalog(s3_bucket)
    pinned = f"{repository}:1.0.0@{digest}"
    assert published["docker_images"] == [pinned]
    assert [s["image"] for s in compose.parse_yaml(published["compose_yml"])["services"].values()] == [pinned]
    assert published["compose_yml"].startswith("# GENERATED FILE")

    # the same tree again: UNCHANGED, nothing written
    before = s3_bucket.objects()
    code, out, err = prod(root, "publish-registry")
    assert code == 0 and f"UNCHANGED {name}" in out and s3_bucket.objects() == before, out + err

    # a rebuilt image pushed under the same tag: FAIL without FORCE=1, naming the digest change
    tiny_image(docker_client, f"{repository}:1.0.0-dev", "second build", root)
    assert prod(root, "push", "--type", "tool", "--name", name)[0] == 0
    new_digest = image_registry.manifest_digest(repository, "1.0.0")
    assert new_digest != digest
    code, out, err = prod(root, "publish-registry")
    assert code == 1, out + err
    assert f"FAIL      {name}" in out and "the image digest changed" in out and digest in out and new_digest in out
    assert s3_bucket.objects() == before
    code, out, err = prod(root, "publish-registry", FORCE="1")
    assert code == 0, out + err
    assert remote_catalog(s3_bucket)[0]["docker_images"] == [f"{repository}:1.0.0@{new_digest}"]


def test_pin_digests_0_publishes_the_checked_tag_unpinned(tool, prod, image_registry, docker_client, s3_bucket):
    root, name = tool
    repository = f"kamiwazaai/{name}-mcp"
    tiny_image(docker_client, f"{repository}:1.0.0-dev", "unpinned", root)
    assert prod(root, "push", "--type", "tool", "--name", name)[0] == 0
    code, out, err = prod(root, "publish-registry", PIN_DIGESTS="0")
    assert code == 0, out + err
    assert remote_catalog(s3_bucket)[0]["docker_images"] == [f"{repository}:1.0.0"]
    assert "not pinned by digest" in out


def test_an_unreachable_registry_is_exit_2_naming_image_registry(tool, bucket_cli, s3_bucket):
    root, _ = tool
    host = f"127.0.0.1:{free_port()}"
    code, out, err = bucket_cli(root, "publish-registry", "--stage", "prod", IMAGE_REGISTRY=host, SKIP_IMAGE_CHECK="0")
    assert code == 2, out + err
    assert f"cannot reach the image registry {host} (IMAGE_REGISTRY={host})" in err and "Traceback" not in err
    assert s3_bucket.objects() == {}


def test_skip_image_check_is_loud_and_publishes_unpinned(bucket_cli, tmp_path, s3_bucket):
    root = make_repo(tmp_path / "repo", ("tool", "tool-offline"))
    green(root)
    code, out, err = bucket_cli(root, "publish-registry", "--stage", "prod", SKIP_IMAGE_CHECK="1")
    assert code == 0, out + err
    assert re.search(r"^WARNING: SKIP_IMAGE_CHECK=1: the 1 project images were NOT looked up", out, re.M)
    assert "published NOT pinned" in out
    assert "@sha256" not in json.dumps(remote_catalog(s3_bucket))
    code, out, err = bucket_cli(root, "publish-registry", "--stage", "prod", SKIP_IMAGE_CHECK="1", PIN_DIGESTS="1")
    assert code == 2 and "PIN_DIGESTS=1 needs the digests" in err
