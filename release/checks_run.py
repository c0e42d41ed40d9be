"""How to run `pytest checks/` (what `make validate` runs) over a monorepo from inside the harness.

ci-pipeline streams it and publish-registry gates on it; both build the command here.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Mapping

HARNESS_ROOT = Path(__file__).resolve().parent.parent
SELECTION_VARIABLES = ("TYPE", "NAME", "SINCE")


def invocation(root: Path, environ: Mapping[str, str], *extra: str, every_extension: bool = False) -> tuple[list[str], dict[str, str]]:
    """argv and environment (run with cwd=HARNESS_ROOT) for the checks over `root`.

    `every_extension` drops TYPE/NAME/SINCE, for a verdict on the whole tree (the publish gate).
    PYTEST_* variables are dropped so a caller's pytest settings do not leak in.
    """
    dropped = SELECTION_VARIABLES if every_extension else ()
    env = {key: value for key, value in environ.items() if not key.startswith("PYTEST_") and key not in dropped}
    env["KAMIWAZA_ROOT"] = str(Path(root).resolve())
    env.update(FAST_PYTEST_ENV)
    return [sys.executable, "-m", "pytest", "checks/", "-q", *FAST_PYTEST_ARGS, *extra], env


# What `make validate` runs too (the Makefile's validate line spells the same arguments):
# pytest's entry-point plugins cost more than the 800 checks of a 200-extension monorepo
# (hypothesis alone ~1 s to import); only xdist is loaded back, for `-n`. Of pytest's own
# plugins, those that wrap every test phase and that no check uses are off: log capture,
# warning capture, unraisable/thread exception hooks, faulthandler, and the legacy tmpdir,
# doctest, pastebin, stepwise and setup-plan options (~0.4 CPU-s of 2.3 at N=200).
# Failures, skips, JUnit and validate.json are reported as before.
FAST_PYTEST_ENV = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
UNUSED_PLUGINS = (
    "cacheprovider", "logging", "warnings", "unraisableexception", "threadexception", "faulthandler",
    "legacypath", "doctest", "pastebin", "stepwise", "setuponly", "setupplan",
)
FAST_PYTEST_ARGS = ("-p", "xdist", *(part for name in UNUSED_PLUGINS for part in ("-p", f"no:{name}")))
