"""`make bump TYPE=.. NAME=.. [PART=patch|minor|major] [PRE=rc.1] [DRY_RUN=1]`: the SemVer bump in kamiwaza.json.

Rewrites only the "version" value of the extension's kamiwaza.json (every other
byte stays), then runs sync-compose for that extension. The rules are in
`release/bump.py`; bad PART or PRE exits 2 and writes nothing.
"""

from __future__ import annotations

import argparse

from release import bump, extensions, fileio, log, manifest, sync
from release.config import Settings
from release.errors import EXIT_BAD_INPUT, HarnessError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--part", dest="PART", help="major, minor or patch (PART; default patch)")
    parser.add_argument("--pre", dest="PRE", help="a SemVer pre-release such as rc.1 (PRE)")


def run(settings: Settings, args) -> int:
    extension = _chosen(settings)
    path = extension.manifest_path
    try:
        part = bump.parse_part(getattr(args, "PART", None) or settings.get("PART"))
        pre = bump.parse_pre(getattr(args, "PRE", None) or settings.get("PRE"))
        old = manifest.load(path).version  # a manifest that does not validate is reported, not bumped
        new = bump.next_version(old, part, pre)
        text = path.read_bytes().decode("utf-8")  # bytes: line endings are kept as they are
        updated = bump.replace_version(text, new)
    except bump.BumpError as error:
        raise HarnessError(str(error), file=path if error.field.startswith("$") else None, field=error.field) from None
    sync.render_appgarden(extension)  # the compose side must be renderable before anything is written

    log.info(f"{extension.name}: {old} -> {new}")
    if settings.dry_run:
        log.info(f"dry run: {path.relative_to(settings.root)} and {extension.appgarden_path.name} not changed")
        return 0
    fileio.write_atomically(path, updated)
    result = sync.sync_one(extension, check=False)
    log.info(f"  {result.status.value:<9} {extension.id} {extension.appgarden_path.name}")
    if not result.ok:
        raise HarnessError(problems=result.problems, exit_code=EXIT_BAD_INPUT)
    return 0


def _chosen(settings: Settings) -> extensions.Extension:
    if not settings.extension_type or not settings.extension_name:
        raise HarnessError(
            "make bump works on one extension",
            field="TYPE" if not settings.extension_type else "NAME",
            fix="give both, e.g. make bump TYPE=tool NAME=tool-weather PART=minor",
        )
    [extension] = extensions.select(extensions.discover(settings.root), settings.extension_type, settings.extension_name)
    return extension
