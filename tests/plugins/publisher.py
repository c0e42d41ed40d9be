"""A `python -m release` process that stops at a named hook point, for kill tests.

    python -m tests.plugins.publisher --pause POINT [--pause-seconds S] [--fail POINT] -- <release CLI args>

At the first hook point named POINT (a publish step such as `upload:apps.json`, or an S3 call
such as `s3:put_object:garden/v2/registry.lock`) it prints `PAUSED POINT` on stderr and sleeps
S seconds (default 60), so the test can send kill -9, SIGTERM or SIGINT at exactly that step.
`--fail POINT` raises a HarnessError there first (to reach the restore). Then it runs the real
CLI, exactly as `make` does.
"""

from __future__ import annotations

import argparse
import sys
import time

from release import cli, publish
from release.errors import EXIT_FAILED, HarnessError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pause", default="")
    parser.add_argument("--pause-seconds", type=float, default=60.0)
    parser.add_argument("--fail", default="")
    parser.add_argument("rest", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    paused = False

    def hook(point: str) -> None:
        nonlocal paused
        if args.fail and point == args.fail:
            raise HarnessError(f"injected failure at {point}", exit_code=EXIT_FAILED)
        if args.pause and point.startswith(args.pause) and not paused:
            paused = True
            print(f"PAUSED {point}", file=sys.stderr, flush=True)
            deadline = time.monotonic() + args.pause_seconds
            while time.monotonic() < deadline:
                time.sleep(0.05)

    publish.DEFAULT_HOOK = hook
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
