"""`python -m release <command>`: one thin subcommand per make target.

Every command module under `release/commands/` offers `run(settings, args) -> int`
and may offer `add_arguments(parser)`. Modules are imported only when their
command runs, so a slow import (boto3, docker) never delays the others.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
import threading
from contextlib import contextmanager
from typing import Iterator, Sequence

from release import config
from release.errors import EXIT_BAD_INPUT, HarnessError, report

# command -> (module under release.commands, one-line usage shown by `make help`)
COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("help", "make help  - list every target with its usage"),
    "new": ("new", "make new TYPE={app|tool|service} NAME={name}  - create an extension from templates/"),
    "list": ("list_extensions", "make list [TYPE=..] [NAME=..] [SINCE=ref]  - list the extensions (python -m release list --json: a CI matrix)"),
    "sync-compose": ("sync_compose", "make sync-compose [TYPE=.. NAME=..] [SINCE=ref] [CHECK=1]  - write docker-compose.appgarden.yml (CHECK=1: fail on drift)"),
    "bump": ("bump", "make bump TYPE=.. NAME=.. [PART=patch|minor|major] [PRE=rc.1] [DRY_RUN=1]  - SemVer bump of kamiwaza.json's version, then sync-compose"),
    "base-images": ("base_images", "make base-images [FORCE=1]  - create the local base images (no registry pull)"),
    "build": ("build", "make build TYPE=.. NAME=..  - sync-compose, then build each built service's image (declared or kamiwazaai/{ext}-{svc}) as {version}-dev"),
    "build-all": ("build", "make build-all [SINCE=ref]  - build every extension (or those changed since a git ref)"),
    "test": ("test", "make test TYPE=.. NAME=.. [NO_BUILD=1]  - rebuild stale images, start the extension, wait for health, run its tests/"),
    "test-all": ("test", "make test-all [SINCE=ref]  - test every extension in parallel where ports allow; reports in build/reports/"),
    "push": ("push", "make push TYPE=.. NAME=.. (or SINCE=ref) [STAGE=dev|stage|prod] [BUILD=1] [DRY_RUN=1] [IMAGE_REGISTRY=host]  - push stage-tagged images, never latest"),
    "build-registry": ("build_registry", "make build-registry [STAGE=dev|stage|prod]  - write build/registry.json and the garden tree"),
    "package-registry": ("package_registry", "make package-registry [IMAGES=1]  - write dist/kamiwaza-registry-YYYYMMDD-HHMMSS.tar.gz"),
    "merge": ("merge", "python -m release merge --remote R.json --local L.json [--json]  - plan a version-aware merge"),
    "publish-registry": ("publish_registry", "make publish-registry [STAGE=..] [DRY_RUN=1] [FORCE=1] [LOCK_ID=..]  - safe upsert to S3 (LOCK_ID: take over a stopped publish's lock and finish it)"),
    "publish-registry-direct": ("publish_registry", "make publish-registry-direct [STAGE=..]  - legacy direct sync (no version checks)"),
    "download-registry": ("download_registry", "make download-registry [STAGE=..]  - save the remote registry under build/registry-download/"),
    "remove-publish-lock": ("remove_publish_lock", "make remove-publish-lock STAGE=.. [LOCK_ID=..]  - remove the registry lock"),
    "restore-registry": ("restore_registry", "make restore-registry STAGE=.. BACKUP=<timestamp> [LOCK_ID=..] [DRY_RUN=1]  - put a bucket backup back, under the lock, verified"),
    "unpublish": ("unpublish", "make unpublish NAME=.. VERSION=.. [STAGE=..] [DRY_RUN=1]  - withdraw one release from the remote catalog (lock, backup, verify)"),
    "list-published": ("list_published", "make list-published [STAGE=..]  - the remote catalog (name, version, kamiwaza_version, images, pinned) and the lock (python -m release list-published --json)"),
    "doctor": ("doctor", "make doctor [STAGE=..]  - check Docker, Compose v2, base images, the image registry, each stage's settings and bucket"),
    "ci-pipeline": ("ci_pipeline", "make ci-pipeline  - build-all, test-all, sync-compose, validate, build-registry, package-registry"),
    "moto-server": ("moto_server", "make moto-server [PORT=5000]  - a local S3 (moto) with one bucket per stage, for trying publish-registry"),
    "bench": ("bench", "make bench [N=200]  - time the pipeline on a synthetic monorepo"),
}


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser; only the chosen command's module is imported for its own arguments.

    Importing every command module costs more than some commands take (~0.1 s per
    process), so with `argv` the other subcommands get the common options only; their
    own options are added when they are the one chosen (`<command> --help` shows them).
    Without `argv` every command gets its full arguments (for documentation).
    """
    chosen = _chosen_command(argv) if argv is not None else None
    parser = argparse.ArgumentParser(prog="python -m release", description="Kamiwaza extensions release harness.")
    parser.add_argument("--root", help="monorepo root (default: $KAMIWAZA_ROOT, else the nearest folder above holding extensions/ and the Makefile)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, (module_name, usage) in COMMANDS.items():
        command = sub.add_parser(name, help=usage.split("  - ")[-1], description=usage)
        _add_common(command)
        if argv is not None and name != chosen:
            continue
        module = _module(module_name, required=False)
        if module is not None and hasattr(module, "add_arguments"):
            module.add_arguments(command)
    return parser


def _chosen_command(argv: Sequence[str]) -> str | None:
    """The subcommand named in `argv` (the first word that is one), skipping `--root X`."""
    skip = False
    for word in argv:
        if skip:
            skip = False
        elif word == "--root":
            skip = True
        elif word in COMMANDS:
            return word
        elif not word.startswith("-"):
            return None  # argparse reports the unknown command
    return None


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", dest="TYPE", help="extension type (TYPE)")
    parser.add_argument("--name", dest="NAME", help="extension name (NAME)")
    parser.add_argument("--stage", dest="STAGE", help="dev, stage or prod (STAGE)")
    parser.add_argument("--dry-run", dest="DRY_RUN", action="store_true", default=None, help="show, change nothing (DRY_RUN=1)")
    parser.add_argument("--force", dest="FORCE", action="store_true", default=None, help="FORCE=1")
    parser.add_argument("--build", dest="BUILD", action="store_true", default=None, help="BUILD=1")
    parser.add_argument("--check", dest="CHECK", action="store_true", default=None, help="CHECK=1")
    parser.add_argument("--since", dest="SINCE", help="only extensions changed since this git ref (SINCE)")


_OVERRIDES = ("TYPE", "NAME", "STAGE", "DRY_RUN", "FORCE", "BUILD", "CHECK", "SINCE", "NO_BUILD")
# Commands that, run inside an extension's folder without TYPE/NAME, work on that extension.
FOLDER_SCOPED = ("list", "sync-compose", "build", "test", "push")


def _module(module_name: str, required: bool = True):
    try:
        return importlib.import_module(f"release.commands.{module_name}")
    except ModuleNotFoundError as error:
        if required or error.name != f"release.commands.{module_name}":
            raise
        return None


@contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CI cancel, `kill`) takes the Ctrl-C path: teardown, restore and lock release run."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv).parse_args(argv)
    with sigterm_as_interrupt():
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    try:
        overrides = {key: getattr(args, key, None) for key in _OVERRIDES}
        settings = config.resolve(overrides, root=args.root, folder_defaults=args.command in FOLDER_SCOPED)
        if settings.from_folder:
            print(f"(TYPE={settings.extension_type} NAME={settings.extension_name}: the extension of the current folder)", file=sys.stderr)
        module = _module(COMMANDS[args.command][0], required=False)
        if module is None:
            raise HarnessError(f'the command "{args.command}" is not available in this version', fix="see `make help` for the commands that are")
        return int(module.run(settings, args) or 0)
    except HarnessError as error:
        return report(error)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_BAD_INPUT


# Targets the Makefile runs without this CLI (pytest and scripts), for `make help`.
MAKE_ONLY_TARGETS = (
    "make bootstrap  - install and start Docker, Compose v2, docker-registry, Python deps, base images (root, idempotent)",
    "make validate [TYPE=.. NAME=..] [SINCE=ref]  - pytest checks/: every rule, one test id per extension; reports in build/reports/",
    "make tests  - the whole test suite: python3 -m pytest -n auto (tests/ and checks/)",
)


def usage_lines() -> list[str]:
    return [*MAKE_ONLY_TARGETS, *(usage for command, (_, usage) in COMMANDS.items() if command != "merge")]
