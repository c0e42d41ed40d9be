"""`make new`: render templates/<type>/ into extensions/<type>s/<name>/.

Placeholders `{{name}}` and `{{display_name}}` are replaced in file contents
and file names. Names are checked before anything is written, and an existing
folder is never overwritten: the new folder is assembled beside its final place
and renamed into it in one step.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from release import extensions, rules
from release.errors import HarnessError

TEMPLATES_DIR = "templates"


def display_name(name: str) -> str:
    return " ".join(part.capitalize() for part in name.split("-"))


def render_text(text: str, name: str) -> str:
    return text.replace("{{name}}", name).replace("{{display_name}}", display_name(name))


def create(root: Path, extension_type: str | None, name: str | None) -> Path:
    if not extension_type or extension_type not in extensions.TYPES:
        raise HarnessError(
            f'TYPE "{extension_type or ""}" is not an extension type',
            field="TYPE",
            fix=f"run `make new TYPE=<{'|'.join(extensions.TYPES)}> NAME=<name>`",
        )
    if not name:
        raise HarnessError("NAME is missing", field="NAME", fix=f"run `make new TYPE={extension_type} NAME=<name>`")
    reasons = rules.name_problems(extension_type, name)
    if reasons:
        raise HarnessError(f"NAME is not allowed: {'; '.join(reasons)}", field="NAME", fix="choose another name; nothing was written")
    template = root / TEMPLATES_DIR / extension_type
    if not template.is_dir():
        raise HarnessError("template folder is missing", file=template, fix="restore templates/ from the repository")
    clashes = [e for e in extensions.discover(root) if e.name == name]
    if clashes:
        raise HarnessError(
            f'an extension named "{name}" already exists at {clashes[0].path}',
            field="NAME",
            fix="choose another name; existing extensions are never overwritten",
        )
    target = extensions.type_dir(root, extension_type) / name
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        _render_tree(template, staging, name)
        staging.rename(target)  # atomic on one file system; fails if target appeared meanwhile
    except OSError as error:
        raise HarnessError(f"could not create the extension: {error}", file=target, fix="check the folder's permissions and free space") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def _render_tree(template: Path, destination: Path, name: str) -> None:
    for source in sorted(template.rglob("*")):
        if "__pycache__" in source.parts:
            continue
        relative = Path(render_text(str(source.relative_to(template)), name))
        target = destination / relative
        if source.is_dir():
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            target.write_text(render_text(source.read_text(encoding="utf-8"), name), encoding="utf-8")
        except UnicodeDecodeError:
            shutil.copyfile(source, target)
        shutil.copymode(source, target)
