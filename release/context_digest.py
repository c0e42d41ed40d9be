"""The digest of what an image is built from: its build context, Dockerfile and build args.

`make build` writes it into the image as the label `ai.kamiwaza.context-digest`;
`make test` and `make push` recompute it from the sources and compare, so an image
built before a source edit is caught instead of tested or pushed.

The file set is exactly what the build sends to the engine: the docker SDK's own
`.dockerignore` matcher (`docker.utils.build.exclude_paths`, the function
`APIClient.build` uses to make the context tar), so `!` exceptions, `**` and every
other rule mean here what they mean for the build. Reads files; talks to no engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Mapping

from docker.utils.build import exclude_paths

LABEL = "ai.kamiwaza.context-digest"
DOCKERIGNORE = ".dockerignore"
_CHUNK = 1 << 20


def ignore_patterns(context: Path) -> list[str]:
    """The context's .dockerignore patterns, read as the docker SDK reads them (blank lines and # comments dropped)."""
    path = context / DOCKERIGNORE
    if not path.is_file():
        return []
    lines = (line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def context_files(context: Path, dockerfile: str = "Dockerfile") -> list[str]:
    """Every path (files, folders, links; relative, POSIX) the build sends, sorted."""
    return sorted(Path(p).as_posix() for p in exclude_paths(str(context), ignore_patterns(context), dockerfile=dockerfile))


def digest(context: Path, dockerfile: Path, buildargs: Mapping[str, str] | None = None, target: str | None = None) -> str:
    """`sha256:<hex>` over the context's files (path, kind, executable bit, content), the Dockerfile
    (also when it lies outside the context), the build args and the target stage.

    Paths are relative and timestamps are left out: a copy of the same sources has the same digest.
    """
    context = Path(context)
    dockerfile = Path(dockerfile)
    relative_dockerfile = os.path.relpath(dockerfile, context)
    total = hashlib.sha256()

    def add(*parts: str | bytes) -> None:
        for part in parts:
            data = part.encode("utf-8", "surrogateescape") if isinstance(part, str) else part
            total.update(len(data).to_bytes(8, "big") + data)

    for relative in context_files(context, relative_dockerfile):
        path = context / relative
        info = path.lstat()
        if stat.S_ISLNK(info.st_mode):
            add("link", relative, os.readlink(path))
        elif stat.S_ISDIR(info.st_mode):
            add("dir", relative)
        elif stat.S_ISREG(info.st_mode):
            add("file", relative, "x" if info.st_mode & 0o111 else "-", _file_sha256(path))
        # sockets and FIFOs are not sent to the builder
    add("dockerfile", _file_sha256(dockerfile))
    add("args", json.dumps(dict(buildargs or {}), sort_keys=True))
    add("target", target or "")
    return f"sha256:{total.hexdigest()}"


def _file_sha256(path: Path) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(_CHUNK), b""):
            sha.update(chunk)
    return sha.hexdigest()
