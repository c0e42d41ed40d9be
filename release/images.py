"""Image naming and stage tags: the one home of both rules.

Which image a service has (`service_repository`, asked by sync-compose, build, push,
test, build-registry and bench alike):

- a service with a `build:` context is this project's: its repository is its declared
  `image:` repository when it has one (tag and digest dropped, `${VAR:-default}`
  resolved), else `kamiwazaai/{extension-name}-{service-name}`;
- a service with only `image:` in the project namespace (`kamiwazaai/x:1.0`) is this
  project's to *tag* but not to build: its tag follows kamiwaza.json like every
  `kamiwazaai/*` image (the App Garden and registry rules require it), and nothing here
  builds, tests or pushes it (see `is_built`). The SDK's publish keeps such refs
  verbatim instead; this harness follows the spec ("every kamiwazaai image tag comes
  from kamiwaza.json"), so that image must be built and pushed at the same version by
  whoever owns it (typically a sibling service with `build:` and the same `image:`);
- any other service without build (`postgres:16`, `ghcr.io/acme/x:2`) is someone
  else's: None, and its reference is kept byte for byte.

The tag always comes from kamiwaza.json and the stage:
dev -> {version}-dev, stage -> {version}-stage, prod -> {version}.
`latest` is a local convenience tag only and is never pushed.
"""

from __future__ import annotations

import re
from typing import Any, Final, Mapping

STAGES: Final = ("dev", "stage", "prod")
DEFAULT_STAGE: Final = "dev"
NAMESPACE: Final = "kamiwazaai"
LOCAL_ONLY_TAG: Final = "latest"
VERSION_PLACEHOLDER: Final = "{version}"

# One path component of a Docker repository name (distribution's reference grammar).
_REPOSITORY_PART = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


class ImageNameError(ValueError):
    """A service whose image name cannot be decided; carries the compose field and the fix."""

    def __init__(self, message: str, field: str, fix: str) -> None:
        super().__init__(message)
        self.field = field
        self.fix = fix


def stage_tag(version: str, stage: str) -> str:
    """The Docker tag for a manifest version at a stage.

    Docker tags may not hold '+', so semver build metadata becomes '_'.
    """
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; expected one of {', '.join(STAGES)}")
    tag = version.replace("+", "_")
    return tag if stage == "prod" else f"{tag}-{stage}"


def is_built(service: Mapping[str, Any]) -> bool:
    """Whether this project builds the service (it has a usable build context)."""
    from release.compose import build_context  # compose imports this module

    return build_context(service) is not None


def service_repository(extension_name: str, service_name: str, service: Mapping[str, Any]) -> str | None:
    """The repository (no tag) of a service's image, or None when it is not this project's.

    Raises ImageNameError when the image cannot be named (a variable without a
    default in the declared image, or a service name no repository may hold).
    """
    field = f"services.{service_name}.image"
    declared = service.get("image")
    if declared is not None and (not isinstance(declared, str) or not declared.strip()):
        raise ImageNameError("image is not a non-empty string", field, "write `image: name:tag`")
    if isinstance(declared, str):
        from release.compose import resolve_defaults  # compose imports this module

        resolved = resolve_defaults(declared.strip())
        if resolved is None:
            if not is_built(service) and not declared.strip().startswith(f"{NAMESPACE}/"):
                return None  # someone else's image, whatever the host supplies
            raise ImageNameError(
                f'image "{declared}" uses a variable without a default',
                field,
                "write the image name out, or give the variable a default (${IMAGE:-kamiwazaai/name}); its tag comes from kamiwaza.json",
            )
        repository = split_ref(resolved)[0]
        if is_built(service) or is_project_image(repository):
            return repository
        return None
    if not is_built(service):
        return None
    if not _REPOSITORY_PART.match(f"{extension_name}-{service_name}"):
        raise ImageNameError(
            f'service name "{service_name}" cannot name the image {NAMESPACE}/{extension_name}-{service_name}',
            f"services.{service_name}",
            "use a lowercase service name (a-z, 0-9, '-', '_', '.'), or give the service an `image:`",
        )
    return f"{NAMESPACE}/{extension_name}-{service_name}"


def service_image(extension_name: str, service_name: str, service: Mapping[str, Any], version: str, stage: str) -> str | None:
    """`service_repository` with the stage tag of `version`; None for someone else's image."""
    repository = service_repository(extension_name, service_name, service)
    return None if repository is None else f"{repository}:{stage_tag(version, stage)}"


def manifest_image(ref: str, version: str, stage: str) -> str:
    """A manifest `image` / `extra_docker_images` entry as published for a stage.

    A `{version}` placeholder is filled first; a project image (`kamiwazaai/*`)
    then gets the stage tag; anything else is kept as written (after filling).
    """
    filled = ref.replace(VERSION_PLACEHOLDER, version)
    if "@" in filled or not is_project_image(filled):
        return filled  # digest-pinned, or someone else's release cadence
    return with_tag(filled, stage_tag(version, stage))


def split_ref(ref: str) -> tuple[str, str | None]:
    """Split `name[:tag]` (digests and registry ports handled); tag None when absent."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1 :]
    return name, None


def is_project_image(ref: str, namespace: str = NAMESPACE) -> bool:
    """True for images in this monorepo's namespace (kamiwazaai/*)."""
    return split_ref(ref)[0].startswith(f"{namespace}/")


def is_registry_qualified(ref: str) -> bool:
    """Whether a reference names its registry host (`ghcr.io/x`, `localhost:5000/x`), as Docker decides."""
    first, slash, _ = ref.partition("/")
    return bool(slash) and ("." in first or ":" in first or first == "localhost")


def with_tag(ref: str, tag: str) -> str:
    return f"{split_ref(ref)[0]}:{tag}"
