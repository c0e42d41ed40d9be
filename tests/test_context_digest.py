"""release/context_digest.py: the file set is the build's own, and the digest follows the sources."""

from __future__ import annotations

import os
import shutil
import tarfile
from pathlib import Path

import pytest
from docker.utils.build import tar
from hypothesis import given, settings
from hypothesis import strategies as st

from release import context_digest

FILES = {
    "Dockerfile": "FROM scratch\n",
    "app.py": "print('hi')\n",
    "notes.md": "docs\n",
    "keep.md": "kept by an exception\n",
    "src/a.py": "a\n",
    "src/deep/b.pyc": "compiled\n",
    "src/deep/c.py": "c\n",
    "node_modules/x/index.js": "x\n",
    "secrets/.env": "TOKEN=1\n",
    "secrets/public.txt": "public\n",
}
IGNORE = """\
# comments and blank lines are skipped

*.md
!keep.md
**/*.pyc
node_modules
secrets/*
!secrets/public.txt
"""


def _context(root: Path, files: dict[str, str] = FILES, ignore: str | None = IGNORE) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if ignore is not None:
        (root / ".dockerignore").write_text(ignore)
    return root


def _tar_members(context: Path) -> list[str]:
    """What the docker SDK really sends to the engine for this context."""
    exclude = context_digest.ignore_patterns(context)
    with tar(str(context), exclude=exclude or None, dockerfile=("Dockerfile", None)) as stream:
        with tarfile.open(fileobj=stream) as archive:
            return sorted(member.name for member in archive.getmembers())


def test_the_file_set_honours_exceptions_and_double_stars(tmp_path: Path):
    files = [p for p in context_digest.context_files(_context(tmp_path)) if (tmp_path / p).is_file()]
    assert files == [".dockerignore", "Dockerfile", "app.py", "keep.md", "secrets/public.txt", "src/a.py", "src/deep/c.py"]


def test_the_file_set_is_exactly_what_the_build_sends(tmp_path: Path):
    context = _context(tmp_path)
    assert context_digest.context_files(context) == _tar_members(context)


def test_a_copy_has_the_same_digest_and_an_edit_changes_it(tmp_path: Path):
    first = _context(tmp_path / "one")
    second = tmp_path / "two"
    shutil.copytree(first, second)
    os.utime(second / "app.py", (1, 1))  # timestamps do not count
    digest = context_digest.digest(first, first / "Dockerfile")
    assert digest.startswith("sha256:") and context_digest.digest(second, second / "Dockerfile") == digest
    (second / "app.py").write_text("print('fixed')\n")
    assert context_digest.digest(second, second / "Dockerfile") != digest


def test_ignored_files_do_not_count_and_kept_ones_do(tmp_path: Path):
    context = _context(tmp_path)
    digest = context_digest.digest(context, context / "Dockerfile")
    (context / "notes.md").write_text("edited docs\n")
    (context / "src/deep/b.pyc").write_text("recompiled\n")
    (context / "secrets/.env").write_text("TOKEN=2\n")
    assert context_digest.digest(context, context / "Dockerfile") == digest
    (context / "keep.md").write_text("edited\n")
    assert context_digest.digest(context, context / "Dockerfile") != digest


def test_the_executable_bit_counts(tmp_path: Path):
    context = _context(tmp_path)
    digest = context_digest.digest(context, context / "Dockerfile")
    (context / "app.py").chmod(0o755)
    assert context_digest.digest(context, context / "Dockerfile") != digest


def test_a_dockerfile_outside_the_context_counts(tmp_path: Path):
    context = _context(tmp_path / "ctx", {"app.py": "x\n"}, ignore=None)
    dockerfile = tmp_path / "docker" / "Dockerfile.prod"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM scratch\n")
    digest = context_digest.digest(context, dockerfile)
    dockerfile.write_text("FROM scratch\nCOPY app.py /\n")
    assert context_digest.digest(context, dockerfile) != digest


def test_build_args_and_target_count(tmp_path: Path):
    context = _context(tmp_path)
    dockerfile = context / "Dockerfile"
    plain = context_digest.digest(context, dockerfile)
    assert context_digest.digest(context, dockerfile, {"A": "1"}) not in (plain, context_digest.digest(context, dockerfile, {"A": "2"}))
    assert context_digest.digest(context, dockerfile, {"A": "1", "B": "2"}) == context_digest.digest(context, dockerfile, {"B": "2", "A": "1"})
    assert context_digest.digest(context, dockerfile, target="prod") != plain


NAMES = st.sampled_from(["a.py", "b.md", "src/c.py", "src/d.md", "src/deep/e.py", "build/f.o", "keep.md"])
PATTERNS = st.lists(st.sampled_from(["*.md", "!keep.md", "src", "!src/c.py", "**/*.py", "build", "src/**", "!**/e.py", "*/deep"]), max_size=4)


@settings(max_examples=40)
@given(names=st.sets(NAMES, min_size=1), patterns=PATTERNS)
def test_any_dockerignore_gives_the_sdk_tar_file_set(tmp_path_factory: pytest.TempPathFactory, names: set[str], patterns: list[str]):
    context = _context(tmp_path_factory.mktemp("ctx"), {**{name: name for name in names}, "Dockerfile": "FROM scratch\n"}, ignore="\n".join(patterns) + "\n")
    assert context_digest.context_files(context) == _tar_members(context)
