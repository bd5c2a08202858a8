"""How the evaluator scales: peak memory against dataset size, encode throughput
against worker count.

Runs the real ``jpegai-eval run`` (hyperprior-msssim demo weights, the compressed
anchor, the ``smoke`` training preset) as a subprocess on demo datasets of two sizes
and reports each run's peak resident memory (the main process, and the largest worker)
and its encode-stage throughput, then times the encode stage alone with 1 and 2
workers on the same images. Not a test: it prints measurements.

    .venv/bin/python benchmarks/evaluator_scale.py [--small 9] [--large 87] [--size 64]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure_run(root: Path, out: Path, workers: int) -> dict[str, float]:
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
        "1",
        "--weights",
        "demo",
        "--anchors",
        "compressed",
        "--preset",
        "smoke",
        "--workers",
        str(workers),
        "--out",
        str(out),
    ]
    # Peak RSS of each run in a fresh helper process, so runs do not share a maximum.
    code = (
        "import resource, subprocess, sys, time\n"
        "t=time.perf_counter(); subprocess.run(sys.argv[1:], check=True, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(result.stderr)
    seconds, peak_kib = result.stdout.split()
    run_json = json.loads((out / "run.json").read_text())
    return {
        "seconds": float(seconds),
        "peak_rss_mib": int(peak_kib) / 1024,
        "encode_s": run_json["timings"]["encode_s"],
    }


def measure_encode(root: Path, workers: int) -> float:
    """Seconds for the encode stage alone (pool start-up included)."""
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.run.encode_stage import make_jobs, open_cell, run_jobs
    from jpegai_eval.tasks.minc import MincTask

    codec = get_plugins().codecs.resolve("hyperprior-msssim", "compressai")
    samples = MincTask().samples("train", data_root=str(root))
    with tempfile.TemporaryDirectory() as cache:
        cell = open_cell(codec, 1, "demo", Path(cache))
        jobs = make_jobs([cell], samples)
        t0 = time.perf_counter()
        for _ in run_jobs(jobs, workers):
            pass
        return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=9, help="images per class, small run")
    parser.add_argument("--large", type=int, default=87, help="images per class, large run")
    parser.add_argument("--size", type=int, default=64, help="image side in pixels")
    opts = parser.parse_args()

    from jpegai_eval.tasks.demo import write_demo_dataset

    work = Path(tempfile.mkdtemp(prefix="jpegai-scale-"))
    try:
        rows = []
        for per_class in (opts.small, opts.large):
            root = work / f"data-{per_class}"
            write_demo_dataset(root, per_class=per_class, size=opts.size, seed=0)
            m = measure_run(root, work / f"run-{per_class}", workers=2)
            rows.append((per_class * 23, m))
            print(
                f"{per_class * 23:5d} images: run {m['seconds']:6.1f} s, encode "
                f"{m['encode_s']:6.1f} s, peak RSS {m['peak_rss_mib']:7.1f} MiB"
            )
        (n_small, small), (n_large, large) = rows
        print(
            f"peak memory ratio {n_large}/{n_small} images: "
            f"{large['peak_rss_mib'] / small['peak_rss_mib']:.2f} "
            f"(images x{n_large / n_small:.1f})"
        )

        root = work / f"data-{opts.large}"
        one = [measure_encode(root, 1) for _ in range(2)]
        two = [measure_encode(root, 2) for _ in range(2)]
        n = len((root / "labels" / "train1.txt").read_text().split())
        print(
            f"encode stage, {n} images: 1 worker {min(one):.1f} s, 2 workers "
            f"{min(two):.1f} s (pool start-up included); throughput ratio "
            f"{min(one) / min(two):.2f}"
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
