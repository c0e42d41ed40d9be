"""The Docker engine edge (docker SDK). Everything that talks to the engine lives here.

    engine() -> DockerClient          a client from the environment (DOCKER_HOST, ...) that answered a ping
    save_images(refs, dest) -> {ref: archive path}   `docker save` of each image into dest/

No engine, or a missing image, is a HarnessError that says what to do.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Iterable

import docker
import requests
from docker.errors import DockerException, ImageNotFound

from release.errors import HarnessError, Problem

START_ENGINE = "start one with `make bootstrap` (installs and starts Docker) or `dockerd &` (as root), or set DOCKER_HOST"


def engine() -> docker.DockerClient:
    """A client for the engine the environment names; HarnessError when none answers."""
    try:
        client = docker.from_env()
        client.ping()
    except (DockerException, requests.RequestException, OSError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise HarnessError(f"no Docker engine answers ({reason})", field="DOCKER_HOST", fix=START_ENGINE) from None
    return client


def save_images(refs: Iterable[str], dest: Path, *, client: docker.DockerClient | None = None) -> dict[str, Path]:
    """`docker save` each image to `dest/<archive name>.tar`, one archive per image.

    Every image is looked up first, so all missing ones are named in one error and
    nothing is written. An archive loads back with `docker load -i <file>`.
    """
    wanted = sorted(set(refs))
    client = client or engine()
    missing = []
    for ref in wanted:
        try:
            client.images.get(ref)
        except ImageNotFound:
            missing.append(ref)
    if missing:
        raise HarnessError(
            problems=[
                Problem(
                    f'image "{ref}" is not in the local Docker engine',
                    field="IMAGES",
                    fix=f"build it (`make build TYPE=.. NAME=..`, tagged for the stage) or pull it (`docker pull {ref}`), or leave IMAGES unset",
                )
                for ref in missing
            ]
        )
    names = {ref: _archive_name(ref) for ref in wanted}
    if len(set(names.values())) != len(names):
        raise HarnessError(f"two images map to one archive name: {', '.join(wanted)}", fix="rename one of the images")
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    saved: dict[str, Path] = {}
    for ref in wanted:
        path = dest / names[ref]
        partial = path.with_name(f".{path.name}.partial")
        try:
            with partial.open("wb") as stream:
                for chunk in client.api.get_image(ref):
                    stream.write(chunk)
            os.replace(partial, path)
        except (DockerException, requests.RequestException) as error:
            partial.unlink(missing_ok=True)
            raise HarnessError(f'docker save of "{ref}" failed: {error}', field="IMAGES", fix="check the engine (`docker info`) and try again") from None
        saved[ref] = path
    return saved


def _archive_name(ref: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", ref) + ".tar"
