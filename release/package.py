"""`make package-registry`: the distribution tarball of a built registry.

    dist/kamiwaza-registry-YYYYMMDD-HHMMSS.tar.gz   (UTC; SOURCE_DATE_EPOCH when set, else now)
        SHA256SUMS                                   `sha256sum -c` format, every other file
        registry.json
        kamiwaza-extension-registry/garden/v2/...    apps.json, tools.json, images/
        images/<image>.tar                           IMAGES=1 only: `docker save` of every entry's image

Members are relative, regular files and folders only (no links, no '..'),
owned by uid/gid 0 with empty owner names, mode 0644/0755, and every mtime (and
the gzip header's) is the package time, so one input and one SOURCE_DATE_EPOCH
give one archive byte for byte. The registry is rebuilt first when it is
missing, older than anything under extensions/, or built for another STAGE than
one asked for explicitly.

Public API: package_registry(root, *, stage=None, images=False, env=None, ...) -> PackageResult,
registry_is_stale(root, build_dir), member_problems(info), verify_package(path).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Callable, Iterable, Mapping, Sequence

from release import extensions as discovery
from release import images as image_rules
from release import engine, log, manifest, registry
from release.errors import HarnessError, Problem

DIST_DIR = "dist"
ARCHIVE_PREFIX = "kamiwaza-registry-"
ARCHIVE_SUFFIX = ".tar.gz"
SUMS_FILE = "SHA256SUMS"
IMAGES_DIR = "images"
_CHUNK = 1 << 20

# ref list, destination folder -> {ref: archive}; release.docker.save_images by default
ImageSaver = Callable[[Sequence[str], Path], Mapping[str, Path]]


@dataclass(frozen=True)
class PackageResult:
    path: Path
    stage: str
    members: tuple[str, ...]  # file members, SHA256SUMS included
    rebuilt: bool


def archive_name(when: datetime) -> str:
    return f"{ARCHIVE_PREFIX}{when.strftime('%Y%m%d-%H%M%S')}{ARCHIVE_SUFFIX}"


# --------------------------------------------------------------------------- freshness


def newest_mtime_ns(folder: Path) -> int:
    """The newest mtime of any file or folder under `folder` (0 when absent)."""
    newest = 0
    for current, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in (".", *files):
            try:
                newest = max(newest, os.lstat(os.path.join(current, name)).st_mtime_ns)
            except FileNotFoundError:
                continue
    return newest


def registry_is_stale(root: Path, build_dir: Path) -> bool:
    """True when registry.json or the garden is missing, or extensions/ changed after it."""
    path = Path(build_dir) / registry.REGISTRY_FILE
    if not path.is_file() or not registry.garden_path(build_dir).is_dir():
        return True
    return newest_mtime_ns(Path(root) / discovery.EXTENSIONS_DIR) > path.stat().st_mtime_ns


def _built_stage(build_dir: Path) -> str | None:
    try:
        document = manifest.read_json(Path(build_dir) / registry.REGISTRY_FILE)
    except HarnessError:
        return None
    stage = document.get("stage") if isinstance(document, dict) else None
    return stage if stage in image_rules.STAGES else None


# --------------------------------------------------------------------------- members


def collect_files(build_dir: Path) -> list[tuple[str, Path]]:
    """(member name, file) for registry.json and the garden tree, sorted; links are refused."""
    build_dir = Path(build_dir)
    files = [(registry.REGISTRY_FILE, build_dir / registry.REGISTRY_FILE)]
    tree = build_dir / registry.GARDEN_ROOT
    for current, dirs, names in os.walk(tree):
        here = Path(current)
        for name in sorted([*dirs, *names]):
            path = here / name
            if path.is_symlink():
                raise HarnessError("is a symbolic link; the package holds regular files only", file=path, fix="run `make build-registry` to rebuild the garden tree")
        for name in names:
            path = here / name
            files.append((path.relative_to(build_dir).as_posix(), path))
    return sorted(files)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def sha256sums(files: Iterable[tuple[str, Path]]) -> bytes:
    """`<sha256>  <name>` lines sorted by name, as `sha256sum -c` reads them."""
    return "".join(f"{sha256_file(path)}  {name}\n" for name, path in sorted(files)).encode("utf-8")


def member_problems(info: tarfile.TarInfo) -> list[str]:
    """Why a tar member is unsafe or not normalised (empty when it is fine)."""
    found = []
    name = info.name
    parts = PurePosixPath(name).parts
    if name.startswith("/") or "\\" in name or (parts and ":" in parts[0]):
        found.append("absolute path")
    if ".." in parts:
        found.append("'..' in the path")
    if not (info.isreg() or info.isdir()):
        found.append("not a regular file or folder (link or device)")
    if info.uid != 0 or info.gid != 0 or info.uname or info.gname:
        found.append("owner not normalised")
    return found


def _parent_dirs(names: Iterable[str]) -> list[str]:
    dirs = set()
    for name in names:
        parent = PurePosixPath(name).parent
        while str(parent) != ".":
            dirs.add(parent.as_posix())
            parent = parent.parent
    return sorted(dirs)


def _info(name: str, mtime: int, *, size: int = 0, folder: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE if folder else tarfile.REGTYPE
    info.mode = 0o755 if folder else 0o644
    info.size = 0 if folder else size
    info.mtime = mtime
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tarball(dest: Path, files: Sequence[tuple[str, Path]], extra: Mapping[str, bytes], mtime: int) -> None:
    """A deterministic .tar.gz of `files` (name, path) plus in-memory `extra` members."""
    names = sorted({*(n for n, _ in files), *extra})
    if len(names) != len(files) + len(extra):
        raise ValueError("duplicate member names")
    by_name = dict(files)
    with dest.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=mtime, compresslevel=9) as zipped:
        with tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for folder in _parent_dirs(names):
                tar.addfile(_info(folder, mtime, folder=True))
            for name in names:
                if name in extra:
                    tar.addfile(_info(name, mtime, size=len(extra[name])), io.BytesIO(extra[name]))
                else:
                    path = by_name[name]
                    with path.open("rb") as stream:
                        tar.addfile(_info(name, mtime, size=os.fstat(stream.fileno()).st_size), stream)


def verify_package(path: Path, *, mtime: int | None = None) -> list[Problem]:
    """Every member safe and normalised (with `mtime`: every member's time is it),
    SHA256SUMS present and matching every other file."""
    problems: list[Problem] = []
    digests: dict[str, str] = {}
    sums: bytes | None = None
    with tarfile.open(path, "r:gz") as tar:
        for info in tar:
            reasons = member_problems(info)
            if mtime is not None and info.mtime != mtime:
                reasons.append("mtime not normalised")
            problems += [Problem(f'member "{info.name}": {reason}', file=path) for reason in reasons]
            if not info.isreg():
                continue
            stream = tar.extractfile(info)
            assert stream is not None
            if info.name == SUMS_FILE:
                sums = stream.read()
                continue
            digest = hashlib.sha256()
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
            digests[info.name] = digest.hexdigest()
    if sums is None:
        return [*problems, Problem(f"has no {SUMS_FILE}", file=path, fix="rebuild it with `make package-registry`")]
    listed = {}
    for line in sums.decode("utf-8").splitlines():
        digest, _, name = line.partition("  ")
        listed[name] = digest
    for name in sorted(set(listed) | set(digests)):
        if name not in digests:
            problems.append(Problem(f'{SUMS_FILE} lists "{name}", which the archive lacks', file=path))
        elif name not in listed:
            problems.append(Problem(f'"{name}" is not listed in {SUMS_FILE}', file=path))
        elif listed[name] != digests[name]:
            problems.append(Problem(f'"{name}" does not match its checksum', file=path))
    return problems


# --------------------------------------------------------------------------- the command


def package_registry(
    root: Path,
    *,
    stage: str | None = None,
    images: bool = False,
    env: Mapping[str, str] | None = None,
    build_dir: Path | None = None,
    dist_dir: Path | None = None,
    saver: ImageSaver | None = None,
) -> PackageResult:
    """Rebuild the registry if needed, then write and verify the tarball.

    `stage` None keeps the stage the registry was built for (dev when there is none).
    """
    root = Path(root)
    env = os.environ if env is None else env
    build_dir = Path(build_dir) if build_dir is not None else registry.default_build_dir(root)
    dist_dir = Path(dist_dir) if dist_dir is not None else root / DIST_DIR
    when = registry.source_date(env)  # refuse a bad SOURCE_DATE_EPOCH before any work
    built = _built_stage(build_dir)
    stale = registry_is_stale(root, build_dir) or (stage is not None and stage != built)
    if not stale:  # a rebuild runs the same gate inside build_registry
        engine.require_valid(root, env)  # never a tarball of an extension `make validate` refuses
    rebuilt = False
    if stale:
        target = stage or built or image_rules.DEFAULT_STAGE
        log.info(f"registry is missing, older than {discovery.EXTENSIONS_DIR}/ or for another stage: rebuilding for STAGE={target}")
        registry.build_registry(root, target, build_dir=build_dir, env=env)
        rebuilt = True
    document = registry.read_registry(build_dir)
    _check_garden(build_dir, document)
    files = collect_files(build_dir)
    dist_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".package-", dir=dist_dir) as scratch:
        if images:
            # what an air-gapped Kamiwaza loads: every runtime image, and the extras the manifest names
            refs = sorted({ref for entry in document["extensions"] for ref in (*entry["docker_images"], *(entry.get("extra_docker_images") or []))})
            save = saver or _docker_saver()
            saved = save(refs, Path(scratch) / IMAGES_DIR)
            files += sorted((f"{IMAGES_DIR}/{archive.name}", archive) for archive in saved.values())
        extra = {SUMS_FILE: sha256sums(files)}
        partial = Path(scratch) / "package.tar.gz"
        mtime = int(when.timestamp())
        write_tarball(partial, files, extra, mtime)
        problems = verify_package(partial, mtime=mtime)
        if problems:
            raise HarnessError(problems=problems, exit_code=1)
        dest = dist_dir / archive_name(when)
        os.chmod(partial, 0o644)
        os.replace(partial, dest)
    return PackageResult(dest, document["stage"], tuple(sorted([*(n for n, _ in files), SUMS_FILE])), rebuilt)


def _check_garden(build_dir: Path, document: Mapping) -> None:
    """The garden files hold exactly registry.json's entries, and every preview image exists."""
    garden = registry.garden_path(build_dir)
    expected = registry.catalogs(document["extensions"])
    if registry.read_garden(garden) != expected:
        raise HarnessError("the garden catalogs differ from registry.json", file=garden, fix="run `make build-registry`")
    for entry in document["extensions"]:
        preview = entry.get("preview_image")
        if isinstance(preview, str) and "://" not in preview and not (garden / preview).is_file():
            raise HarnessError(f'preview image "{preview}" of {entry["name"]} is missing', file=garden, fix="run `make build-registry`")


def _docker_saver() -> ImageSaver:
    from release import docker as engine  # imported only for IMAGES=1: the SDK is slow to load

    return engine.save_images
