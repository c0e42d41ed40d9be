"""Image naming and stage tags: the one home of both rules.

PATTERN: kamiwazaai/{extension-name}-{service-name}:{version}[-stage]
Stage tags: dev -> {version}-dev, stage -> {version}-stage, prod -> {version}.
`latest` is a local convenience tag only and is never pushed.
"""

from __future__ import annotations

from typing import Final

STAGES: Final = ("dev", "stage", "prod")
DEFAULT_STAGE: Final = "dev"
NAMESPACE: Final = "kamiwazaai"
LOCAL_ONLY_TAG: Final = "latest"


def stage_tag(version: str, stage: str) -> str:
    """The Docker tag for a manifest version at a stage.

    Docker tags may not hold '+', so semver build metadata becomes '_'.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    tag = version.replace("+", "_")
    return tag if stage == "prod" else f"{tag}-{stage}"


def repository(extension_name: str, service_name: str, namespace: str = NAMESPACE) -> str:
    return f"{namespace}/{extension_name}-{service_name}"


def image_ref(extension_name: str, service_name: str, version: str, stage: str | None = None) -> str:
    """Full reference; stage None gives the plain version (as in App Garden files)."""
    tag = version.replace("+", "_") if stage is None else stage_tag(version, stage)
    return f"{repository(extension_name, service_name)}:{tag}"


def split_ref(ref: str) -> tuple[str, str | None]:
    """Split `name[:tag]` (digests and registry ports handled); tag None when absent."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def is_project_image(ref: str, namespace: str = NAMESPACE) -> bool:
    """True for images this monorepo builds and tags (kamiwazaai/*)."""
    return split_ref(ref)[0].startswith(f"{namespace}/")


def with_tag(ref: str, tag: str) -> str:
    return f"{split_ref(ref)[0]}:{tag}"
