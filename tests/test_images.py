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


def test_image_names_follow_the_pattern():
    assert images.image_ref("kaizen", "backend", "1.0.1", "dev") == "kamiwazaai/kaizen-backend:1.0.1-dev"
    assert images.image_ref("micro-ats", "backend", "1.0.0", "prod") == "kamiwazaai/micro-ats-backend:1.0.0"
    assert images.image_ref("kaizen", "frontend", "1.0.1") == "kamiwazaai/kaizen-frontend:1.0.1"


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
