"""The encode stage under torchrun: N ranks of 1 thread each vs 1 rank of 1 thread.

The same images (a demo dataset in MINC layout), the same codec and quality, a fresh
output folder per measurement. Each measurement launches
``torchrun --standalone --nproc_per_node=N`` on this script in worker mode: every rank
plans the study, loads its cells, waits at a barrier, runs the evaluator's encode stage
(its share of the jobs, then the wait for the others and the read of their entries),
and rank 0 records the time from the first barrier to the end. Process start-up and
imports are not counted. Runs alternate between the rank counts; the load average is
printed before and after (this measures a shared machine: compare minimums).

    .venv/bin/python benchmarks/distributed_encode.py --per-class 4 --size 128 --repeat 3

Target (issue 15): 2 ranks >= 1.8x faster than 1 on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def worker(args: argparse.Namespace) -> None:
    import torch

    torch.set_num_threads(1)
    from jpegai_eval.framework.api.plugins import make_plugin_manager
    from jpegai_eval.framework.run import distributed
    from jpegai_eval.framework.run.evaluator import encode_stage, open_cells
    from jpegai_eval.framework.run.plan import RunConfig, make_plan
    from jpegai_eval.framework.run.runfolder import SPLITS

    config = RunConfig(
        codecs=[args.codec],
        task="minc",
        task_options={"data_root": args.data},
        qualities=[args.quality],
        weights="demo",
        workers=1,
    )
    out = Path(args.out)
    with distributed.session("cpu") as w:
        plan = make_plan(config, make_plugin_manager(False))
        samples = {s: plan.task.samples(s, **plan.config.task_options) for s in SPLITS}
        out.mkdir(parents=True, exist_ok=True)
        cells = open_cells(plan, out)
        distributed.barrier()
        t0 = time.perf_counter()
        record: dict[str, object] = {}
        encoded = encode_stage(plan, samples, out, cells, record)
        distributed.barrier()
        seconds = time.perf_counter() - t0
        records = distributed.all_gather_json(record)
        if w.is_main:
            n = sum(len(m) for m in encoded.metrics.values())
            (out / "bench.json").write_text(
                json.dumps({"seconds": seconds, "entries": n, "ranks": records})
            )


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-class", type=int, default=4, help="demo images per class")
    parser.add_argument("--size", type=int, default=128, help="demo image side")
    parser.add_argument("--codec", default="hyperprior-msssim")
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--data", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    from jpegai_eval.tasks.demo import write_demo_dataset

    torchrun = Path(sys.executable).parent / "torchrun"
    env = dict(os.environ, OMP_NUM_THREADS="1", JPEGAI_EVAL_LOAD_PLUGINS="")
    rank_counts = [int(r) for r in args.ranks.split(",")]
    times: dict[int, list[float]] = {n: [] for n in rank_counts}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "minc"
        write_demo_dataset(data, per_class=args.per_class, size=args.size, seed=0)
        print(f"load average before: {load()}")
        for i in range(args.repeat):
            for n in rank_counts:
                out = Path(tmp) / f"run-{n}-{i}"
                command = [
                    str(torchrun),
                    "--standalone",
                    f"--nproc_per_node={n}",
                    __file__,
                    "--worker",
                    f"--data={data}",
                    f"--out={out}",
                    f"--codec={args.codec}",
                    f"--quality={args.quality}",
                ]
                done = subprocess.run(command, env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"{' '.join(command)} failed:\n{done.stderr[-4000:]}")
                result = json.loads((out / "bench.json").read_text())
                times[n].append(result["seconds"])
                per_rank = [r["items_encoded"] for r in result["ranks"]]
                print(
                    f"{n} rank(s): {result['seconds']:.2f} s for {result['entries']} entries "
                    f"(per rank {per_rank}), load {load()}",
                    flush=True,
                )
        print(f"load average after: {load()}")
    base = rank_counts[0]
    for n in rank_counts:
        print(
            f"{n} rank(s) x 1 thread: median {statistics.median(times[n]):.2f} s, "
            f"min {min(times[n]):.2f} s; speed-up vs {base}: median "
            f"{statistics.median(times[base]) / statistics.median(times[n]):.2f}x, "
            f"min {min(times[base]) / min(times[n]):.2f}x"
        )


if __name__ == "__main__":
    main()
