import pytest
from hypothesis import given, strategies as st

from release import images


@pytest.mark.parametrize(
    ("stage", "tag"),
    [("dev", "1.0.1-dev"), ("stage", "1.0.1-stage"), ("prod", "1.0.1")],
)
def test_stage_tags_follow_the_spec_table(stage, tag):
    assert images.stage_tag("1.0.1", stage) == tag


def test_unknown_stage_is_refused():
    with pytest.raises(ValueError, match="dev, stage, prod"):
        images.stage_tag("1.0.0", "qa")


def test_build_metadata_becomes_a_valid_docker_tag():
    assert images.stage_tag("1.0.0+build.7", "prod") == "1.0.0_build.7"


def test_build_only_services_follow_the_pattern():
    assert images.service_image("kaizen", "backend", {"build": "./backend"}, "1.0.1", "dev") == "kamiwazaai/kaizen-backend:1.0.1-dev"
    assert images.service_image("micro-ats", "backend", {"build": {"context": "."}}, "1.0.0", "prod") == "kamiwazaai/micro-ats-backend:1.0.0"


@pytest.mark.parametrize(
    ("declared", "repository"),
    [
        ("kamiwazaai/mcp-time", "kamiwazaai/mcp-time"),
        ("kamiwazaai/mcp-time:1.0.0", "kamiwazaai/mcp-time"),
        ("kamiwazaai/playwright-mcp:v0.0.9@sha256:" + "a" * 64, "kamiwazaai/playwright-mcp"),
        ("${IMAGE:-kamiwazaai/mcp-time}:${TAG:-1.0}", "kamiwazaai/mcp-time"),
        ("ghcr.io/acme/tool:2.0.1", "ghcr.io/acme/tool"),
        ("localhost:5000/kamiwazaai/x", "localhost:5000/kamiwazaai/x"),
    ],
)
def test_a_built_service_is_its_declared_repository(declared, repository):
    service = {"build": ".", "image": declared}
    assert images.service_repository("tool-x", "mcp", service) == repository
    assert images.service_image("tool-x", "mcp", service, "2.1.0", "stage") == f"{repository}:2.1.0-stage"


@pytest.mark.parametrize("image", ["postgres:16", "redis", "ghcr.io/acme/x:2", "localhost:5000/kamiwazaai/x:1", "${DB_IMAGE}", "bitnami/kamiwazaai:1"])
def test_image_only_services_of_others_are_not_this_projects(image):
    assert images.service_repository("tool-x", "db", {"image": image}) is None
    assert images.service_image("tool-x", "db", {"image": image}, "1.0.0", "prod") is None


def test_an_image_only_project_service_is_tagged_but_not_built():
    service = {"image": "kamiwazaai/shared:0.5.0"}
    assert images.service_repository("tool-x", "helper", service) == "kamiwazaai/shared"
    assert images.service_image("tool-x", "helper", service, "1.0.0", "dev") == "kamiwazaai/shared:1.0.0-dev"
    assert not images.is_built(service)


@pytest.mark.parametrize(
    ("service", "field"),
    [
        ({"build": ".", "image": "kamiwazaai/x:${TAG}"}, "services.Api.image"),
        ({"build": ".", "image": "${IMAGE}"}, "services.Api.image"),
        ({"image": "kamiwazaai/${NAME}:1"}, "services.Api.image"),
        ({"build": ".", "image": ""}, "services.Api.image"),
        ({"build": "."}, "services.Api"),
    ],
)
def test_unnameable_images_say_which_field_and_how_to_fix(service, field):
    with pytest.raises(images.ImageNameError) as caught:
        images.service_repository("tool-x", "Api", service)
    assert caught.value.field == field
    assert caught.value.fix


_names = st.from_regex(r"[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,5}){0,2}", fullmatch=True)
_versions = st.from_regex(r"(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})\.(0|[1-9][0-9]{0,2})(-rc\.[1-9])?(\+b[0-9])?", fullmatch=True)


@given(_names, _names, st.one_of(st.none(), _names), st.sampled_from(["", ":0.0.1", ":latest", ":v9"]), _versions, st.sampled_from(images.STAGES))
def test_a_built_service_always_gets_the_manifest_stage_tag_on_one_repository(extension, service_name, declared, old_tag, version, stage):
    service: dict = {"build": "."}
    if declared is not None:
        service["image"] = f"kamiwazaai/{declared}{old_tag}"
    ref = images.service_image(extension, service_name, service, version, stage)
    repository, tag = images.split_ref(ref)
    assert tag == images.stage_tag(version, stage)
    assert repository == (f"kamiwazaai/{declared}" if declared is not None else f"kamiwazaai/{extension}-{service_name}")
    # the App Garden form of the service (image written out) names the same image
    assert images.service_image(extension, service_name, {"build": ".", "image": ref}, version, stage) == ref


@pytest.mark.parametrize(
    ("ref", "stage", "published"),
    [
        ("kamiwazaai/tool-x:{version}", "prod", "kamiwazaai/tool-x:1.2.0"),
        ("kamiwazaai/tool-x:{version}", "dev", "kamiwazaai/tool-x:1.2.0-dev"),
        ("kamiwazaai/tool-x-agent:0.0.1", "stage", "kamiwazaai/tool-x-agent:1.2.0-stage"),
        ("kamiwazaai/tool-x-agent", "prod", "kamiwazaai/tool-x-agent:1.2.0"),
        ("ghcr.io/acme/agent:{version}", "dev", "ghcr.io/acme/agent:1.2.0"),
        ("redis:7", "dev", "redis:7"),
        ("kamiwazaai/pinned@sha256:" + "b" * 64, "dev", "kamiwazaai/pinned@sha256:" + "b" * 64),
    ],
)
def test_manifest_images_get_the_stage_tag_and_the_version_placeholder_is_filled(ref, stage, published):
    assert images.manifest_image(ref, "1.2.0", stage) == published


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("redis:7", ("redis", "7")),
        ("postgres", ("postgres", None)),
        ("localhost:5000/kamiwazaai/x-y:1.0.0", ("localhost:5000/kamiwazaai/x-y", "1.0.0")),
        ("localhost:5000/app", ("localhost:5000/app", None)),
        ("redis:7@sha256:abc", ("redis", "7")),
    ],
)
def test_split_ref_handles_registry_ports_and_digests(ref, expected):
    assert images.split_ref(ref) == expected


def test_project_images_are_recognised_by_namespace():
    assert images.is_project_image("kamiwazaai/kaizen-backend:1.0.1")
    assert not images.is_project_image("redis:7-bookworm")
    assert not images.is_project_image("bitnami/kamiwazaai:1")


@given(st.from_regex(r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}", fullmatch=True), st.sampled_from(images.STAGES))
def test_tags_never_say_latest_and_keep_the_version(version, stage):
    tag = images.stage_tag(version, stage)
    assert tag.startswith(version)
    assert images.LOCAL_ONLY_TAG not in tag


# --------------------------------------------------------------------------- one name end to end (Docker)


def test_built_pushed_tested_and_published_names_are_identical(built_samples, image_registry, logged_in, run_cli, docker_client, tmp_path, monkeypatch):
    """The fixture's mcp-time declares `image: kamiwazaai/mcp-time` with `build:`: every command names that repository."""
    import re

    import yaml

    from release import extensions, exttest, registry

    root = built_samples.root
    extension = next(e for e in extensions.discover(root) if e.id == "tool/mcp-time")
    repository = "kamiwazaai/mcp-time"
    built = built_samples.refs["tool/mcp-time"]
    assert built == [f"{repository}:0.4.0-dev"]
    assert exttest.prepare(extension, {}, docker_client).built == {"mcp": f"{repository}:0.4.0-dev"}  # what `make test` runs
    monkeypatch.setenv("IMAGE_REGISTRY", image_registry.host)
    code, out, err = run_cli(root, "push", "--type", "tool", "--name", "mcp-time", "--stage", "prod", "--dry-run")
    assert code == 0, out + err
    assert re.findall(r"^  would push (\S+)", out, re.M) == [f"{image_registry.host}/{repository}:0.4.0"]
    garden = yaml.safe_load(extension.appgarden_path.read_text())
    assert garden["services"]["mcp"]["image"] == f"{repository}:0.4.0"
    entry = next(e for e in registry.build_registry(root, "prod", build_dir=tmp_path / "build", env={"SOURCE_DATE_EPOCH": "1700000000"}).entries if e["name"] == "mcp-time")
    assert entry["docker_images"] == [f"{repository}:0.4.0"]
    code, out, err = run_cli(root, "push", "--type", "tool", "--name", "mcp-time", "--stage", "prod")
    assert code == 0, out + err
    assert "0.4.0" in image_registry.tags(repository)
