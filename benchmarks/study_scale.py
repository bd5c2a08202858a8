"""Does a study's time grow with its images, and no faster? Issue #26's target: a study
on 4x the images takes at most 4.3x the time.

Runs the real ``jpegai-eval run`` -- every anchor (1, 2, 3 and compressed), the
hyperprior-msssim demo weights, the ``smoke`` training preset, 2 workers -- as a
subprocess on synthetic MINC-shaped datasets (``write_demo_dataset``: 23 classes, the
MINC split files) of ``--per-class`` and 4x that images per class, each run in a fresh
output folder (and so a fresh cache), the small and the large run alternated ``--reps`` times. It
prints each run's wall-clock time and its stages' (``run.json``'s ``timings``), and
the ratio of the medians, large / small. Not a test: it prints measurements; say what
the machine's load was (printed at the start and end).

    .venv/bin/python benchmarks/study_scale.py [--per-class 8] [--factor 4] [--size 64] [--reps 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_study(root: Path, out: Path, qualities: str, workers: int) -> dict[str, float]:
    """Seconds of one whole study, and its stages' seconds from ``run.json``."""
    script = str(Path(sys.executable).parent / "jpegai-eval")
    args = [
        script,
        "run",
        "--codec",
        "hyperprior-msssim",
        "--task",
        "minc",
        "--data-root",
        str(root),
        "--qualities",
        qualities,
        "--weights",
        "demo",
        "--preset",
        "smoke",
        "--workers",
        str(workers),
        "--out",
        str(out),
    ]
    t0 = time.perf_counter()
    result = subprocess.run(args, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if result.returncode:
        raise SystemExit(f"{' '.join(args)}\n{result.stderr[-3000:]}")
    timings = json.loads((out / "run.json").read_text()).get("timings", {})
    return {"total": seconds, **{k: float(v) for k, v in timings.items()}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=8, help="images per class, small run")
    parser.add_argument("--factor", type=int, default=4, help="the large run's multiple")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    parser.add_argument("--qualities", default="1", help="the codec's qualities")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=2, help="runs of each size, alternated")
    opts = parser.parse_args()

    from jpegai_eval.tasks.demo import write_demo_dataset

    print(f"load at start: {os.getloadavg()}")
    work = Path(tempfile.mkdtemp(prefix="jpegai-study-scale-"))
    try:
        sizes = {"small": opts.per_class, "large": opts.per_class * opts.factor}
        roots = {}
        for name, per_class in sizes.items():
            roots[name] = work / f"data-{name}"
            write_demo_dataset(roots[name], per_class=per_class, size=opts.size, seed=0)
        runs: dict[str, list[dict[str, float]]] = {name: [] for name in sizes}
        for rep in range(opts.reps):
            for name in sizes:
                out = work / f"run-{name}-{rep}"
                m = run_study(roots[name], out, opts.qualities, opts.workers)
                shutil.rmtree(out, ignore_errors=True)
                runs[name].append(m)
                stages = ", ".join(
                    f"{k} {v:.1f}" for k, v in m.items() if k != "total" and v >= 0.05
                )
                print(
                    f"{name:5s} ({sizes[name] * 23:5d} images), rep {rep + 1}: "
                    f"{m['total']:6.1f} s  [{stages}]",
                    flush=True,
                )
        med = {name: statistics.median(m["total"] for m in ms) for name, ms in runs.items()}
        print(
            f"study time, {sizes['large'] * 23} / {sizes['small'] * 23} images "
            f"(x{opts.factor}): {med['large']:.1f} / {med['small']:.1f} s = "
            f"{med['large'] / med['small']:.2f}x (target <= 4.3x)"
        )
        for stage in sorted({k for ms in runs.values() for m in ms for k in m} - {"total"}):
            small = statistics.median(m.get(stage, 0.0) for m in runs["small"])
            large = statistics.median(m.get(stage, 0.0) for m in runs["large"])
            if small >= 0.05:
                print(f"  {stage:24s} {large:7.1f} / {small:6.1f} s = {large / small:.2f}x")
        print(f"load at end: {os.getloadavg()}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
