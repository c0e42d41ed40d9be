"""`make bench [N=200]`: time validate, sync-compose CHECK=1, build-registry and merge on a synthetic monorepo.

Each step is reported as a ratio to the parse floor measured first at the same size (see release/bench.py).

`--sizes 50,200,800` measures several sizes (and fits time = fixed + per-extension * N);
`--runs` sets how many runs each median is taken over. Writes build/bench.json.
Exit 0 when every step ran (a missed target is reported, not an error), 1 when a step failed.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from release import bench, log
from release.config import Settings
from release.errors import EXIT_FAILED, EXIT_OK, HarnessError

HARNESS_ROOT = Path(__file__).resolve().parents[2]  # where checks/ and release/ live


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--sizes", help="comma-separated numbers of extensions, e.g. 50,200,800 (default: N, or 200)")
    parser.add_argument("--runs", type=int, default=bench.DEFAULT_RUNS, help=f"runs per step; the median is reported (default {bench.DEFAULT_RUNS})")
    parser.add_argument("--warmup", type=int, default=bench.DEFAULT_WARMUP, help=f"untimed runs of each step first, at the first size (default {bench.DEFAULT_WARMUP})")
    parser.add_argument("--remote-entries", type=int, default=bench.REMOTE_ENTRIES, help=f"published entries for the merge step (default {bench.REMOTE_ENTRIES})")
    parser.add_argument("--keep", action="store_true", help="keep the generated monorepos and print where they are")


def parse_sizes(text: str | None, n: str | None) -> list[int]:
    """--sizes wins over N; each must be a whole number >= 1."""
    field, raw = ("--sizes", text) if text else ("N", n)
    if not raw:
        return [bench.DEFAULT_N]
    sizes = []
    for part in raw.split(","):
        part = part.strip()
        if not part.isdigit() or int(part) < 1:
            raise HarnessError(f'{field}="{raw}" is not a list of whole numbers >= 1', field=field, fix="use e.g. N=200 or --sizes 50,200,800")
        sizes.append(int(part))
    return sizes


def run(settings: Settings, args) -> int:
    sizes = parse_sizes(getattr(args, "sizes", None), settings.get("N"))
    runs = getattr(args, "runs", bench.DEFAULT_RUNS)
    remote_count = getattr(args, "remote_entries", bench.REMOTE_ENTRIES)
    warmup = getattr(args, "warmup", bench.DEFAULT_WARMUP)
    if runs < 1 or warmup < 0 or remote_count < 0:
        raise HarnessError("--runs must be >= 1, --warmup and --remote-entries >= 0", field="--runs", fix="use e.g. --runs 3 --warmup 1")
    merge_available = importlib.util.find_spec("release.commands.merge") is not None
    workdir = Path(tempfile.mkdtemp(prefix="kamiwaza-bench-"))
    env = bench.clean_environment(os.environ, pycache=settings.root / bench.PYCACHE_DIR)
    measurements: list[bench.Measurement] = []
    generate_s: dict[int, float] = {}
    try:
        for n in sizes:
            root = workdir / f"n{n}"
            with log.step(f"generate a monorepo of {log.plural(n, 'extension')} and {log.plural(remote_count, 'published entry', 'published entries')}"):
                started = time.perf_counter()
                bench.write_monorepo(root, n)
                remote, local = bench.write_merge_inputs(workdir / f"merge-{n}", n, remote_count)
                generate_s[n] = time.perf_counter() - started
            floor = bench.floor_step(sys.executable, root)
            for step in (floor, *bench.steps(sys.executable, root, remote, local, merge_available=merge_available)):
                with log.step(f"N={n}: {step.title} x{runs}"):
                    measurement = bench.measure(step, n, runs, HARNESS_ROOT, env, workdir / f"{step.key}-{n}.log", warmup=warmup if n == sizes[0] else 0)
                measurements.append(measurement)
                if measurement.status != "ok":
                    (log.warn if measurement.status == "skipped" else log.info)(f"{step.key} at N={n}: {measurement.status}: {measurement.note}")
                    if measurement.status == "failed":
                        log.info(_tail(workdir / f"{step.key}-{n}.log"))
    finally:
        if getattr(args, "keep", False):
            log.info(f"kept the generated monorepos in {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)

    measurements = bench.with_floors(measurements)
    report = bench.document(measurements, sizes=sizes, runs=runs, remote_count=remote_count, generate_s=generate_s)
    path = settings.root / bench.REPORT_FILE
    bench.write_report(path, report)
    log.info(log.table(bench.RESULT_HEADERS, bench.result_rows(measurements)))
    growth = bench.growth_rows(measurements)
    if growth:
        log.info("")
        log.info("growth over N (least-squares fit, time = fixed + per extension * N):")
        log.info(log.table(bench.GROWTH_HEADERS, growth))
    log.info(f"wrote {path}")
    missed = [m for m in measurements if m.target_met is False]
    for m in missed:
        ratio = "-" if m.ratio is None else f"{m.ratio:.2f}x"
        log.warn(f"{m.step.key} missed its target at N={m.n}: {m.median_s:.2f} s = {ratio} the parse floor, {m.peak_mb:.0f} MB (target {m.target_text()})")
    return EXIT_FAILED if any(m.status == "failed" for m in measurements) else EXIT_OK


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
