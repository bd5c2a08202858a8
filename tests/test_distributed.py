"""Scale-out (issue 15): the partitions, the process group's exchanges on a real gloo
group, and `jpegai-eval run` under `torchrun --nproc_per_node=2` on the CPU: same
results as one process, every item encoded once, and a killed rank resumes."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from jpegai_eval.framework.errors import UsageError, UserError
from jpegai_eval.framework.run import distributed
from jpegai_eval.framework.run.distributed import World, balance, from_environment, share_bounds

# ------------------------------------------------------------------------ partitions


@pytest.mark.parametrize("n", [0, 1, 5, 46, 47])
@pytest.mark.parametrize("size", [1, 2, 3, 8])
def test_shares_cover_every_item_once_in_contiguous_blocks(n, size):
    items = list(range(n))
    blocks = [distributed.share(items, World(r, size)) for r in range(size)]
    assert [i for block in blocks for i in block] == items
    assert max(map(len, blocks)) - min(map(len, blocks)) <= 1
    assert share_bounds(n, size - 1, size)[1] == n


def test_balance_is_deterministic_and_balances_cost():
    costs = {"a": 4.0, "b": 4.0, "c": 1.0, "d": 1.0, "e": 2.0}
    assigned = balance(costs, 2)
    assert assigned == balance(dict(reversed(costs.items())), 2)  # order does not matter
    loads = [sum(c for k, c in costs.items() if assigned[k] == r) for r in range(2)]
    assert sorted(loads) == [6.0, 6.0]
    assert set(balance(costs, 8).values()) == {0, 1, 2, 3, 4}  # one classifier per rank
    assert balance(costs, 1) == dict.fromkeys(costs, 0)


def test_world_from_the_environment():
    assert from_environment({}) == World()
    env = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1"}
    assert from_environment(env) == World(1, 4, 1)
    assert not from_environment({"WORLD_SIZE": "1", "RANK": "0"}).distributed
    with pytest.raises(UsageError, match="must be integers"):
        from_environment({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(UsageError, match="is not a rank of WORLD_SIZE=2"):
        from_environment({"RANK": "2", "WORLD_SIZE": "2"})


def test_one_process_is_unchanged(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    with distributed.session("cpu") as w:
        assert w == World() and distributed.is_main()
        distributed.barrier()
        assert distributed.all_gather_json({"x": 1}) == [{"x": 1}]
        assert distributed.on_main(lambda: 7) == 7
        assert distributed.rank_device("cpu") == "cpu"


def test_a_rank_leaves_without_finalization_and_only_under_torchrun(monkeypatch):
    """After the session a torchrun rank ends at once, its output flushed: torch's
    gloo threads can outlive destroy_process_group, and one that asks for the GIL
    while the interpreter finalizes aborts the rank after its work is done."""
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    distributed.leave()  # one process: a no-op
    code = (
        "import atexit, sys\n"
        "from jpegai_eval.framework.run.distributed import leave\n"
        "atexit.register(lambda: print('finalized'))\n"
        "print('done', end='')\n"
        "leave()\n"
        "sys.exit(3)\n"
    )
    env = dict(_env(), WORLD_SIZE="2", RANK="1", LOCAL_RANK="1")
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120
    )
    assert (done.returncode, done.stdout) == (0, "done"), done.stderr[-3000:]


# --------------------------------------------------------- a real gloo process group


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group_worker(rank: int, size: int, port: int, out: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    report: dict[str, object] = {}
    with distributed.session("cpu") as w:
        report["world"] = [w.rank, w.size]
        report["gathered"] = distributed.all_gather_json({"rank": w.rank, "text": "é" * w.rank})
        report["on_main"] = distributed.on_main(lambda: "claimed")

        def fail() -> None:
            raise UserError("Output folder 'x' holds a run of another configuration.")

        try:
            distributed.on_main(fail)
        except UserError as exc:
            report["error"] = exc.message
        distributed.barrier()
    Path(out, f"rank{rank}.json").write_text(json.dumps(report))


@pytest.mark.slow
def test_exchanges_on_a_real_gloo_group(tmp_path):
    """A user error on rank 0 reaches rank 1 as the same error, instead of a hang."""
    import torch.multiprocessing as mp

    mp.start_processes(
        _group_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn"
    )
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    expected = [{"rank": 0, "text": ""}, {"rank": 1, "text": "é"}]
    assert [r["world"] for r in reports] == [[0, 2], [1, 2]]
    assert all(r["gathered"] == expected for r in reports)
    assert [r["on_main"] for r in reports] == ["claimed", None]
    assert {r["error"] for r in reports} == {
        "Output folder 'x' holds a run of another configuration."
    }


# ------------------------------------------------------------------ torchrun, 2 ranks


@pytest.fixture(scope="module")
def tiny_minc(tmp_path_factory) -> Path:
    """The demo dataset at its smallest: 23 classes x 3 images, 64x64."""
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    return root


def _args(root: Path, out: Path) -> list[str]:
    return [
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
        "--preset",
        "smoke",
        "--workers",
        "1",
        "--seed",
        "3",
        "--anchors",
        "anchor3,compressed",
        "--out",
        str(out),
    ]


def _env() -> dict[str, str]:
    env = dict(os.environ, JPEGAI_EVAL_LOAD_PLUGINS="", OMP_NUM_THREADS="1")
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        env.pop(name, None)
    return env


def _torchrun(console_script: str, root: Path, out: Path) -> list[str]:
    torchrun = Path(sys.executable).parent / "torchrun"
    return [str(torchrun), "--standalone", "--nproc_per_node=2", console_script, *_args(root, out)]


ACCURACY = ["anchor", "classifier", "top1", "top5", "n_test"]


@pytest.fixture(scope="module")
def one_process(tiny_minc, tmp_path_factory) -> pd.DataFrame:
    """The same command without torchrun."""
    script = Path(sys.executable).parent / "jpegai-eval"
    out = tmp_path_factory.mktemp("single") / "run"
    done = subprocess.run(
        [str(script), *_args(tiny_minc, out)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return pd.read_csv(out / "results.csv")


def _check_cache(out: Path) -> list[Path]:
    entries = sorted(out.glob("cache/*/*/*.json"))
    assert len(entries) == 46  # train + test, 23 each, once each: one file per key
    for meta in entries:
        data = json.loads(meta.read_text())  # none half-written
        assert meta.with_suffix(".jai").stat().st_size == data["bytes"]
    assert not list(out.rglob(".jpegai-eval-tmp-*")), "no temporary files left behind"
    return entries


@pytest.mark.slow
def test_torchrun_two_ranks_match_one_process(tiny_minc, tmp_path, console_script, one_process):
    out = tmp_path / "run"
    done = subprocess.run(
        _torchrun(console_script, tiny_minc, out),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Results:") == 1  # rank 0 alone reports
    _check_cache(out)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "finished" and run["world_size"] == 2
    ranks = run["ranks"]
    assert [r["rank"] for r in ranks] == [0, 1]
    assert sum(r["items_encoded"] for r in ranks) == 46
    assert all(r["items_encoded"] == 23 for r in ranks)  # contiguous halves of the jobs
    # Whole classifiers per rank, each trained once, by one rank.
    trained = [r["classifiers_trained"] for r in ranks]
    assert all(trained) and sorted(sum(trained, [])) == sorted(
        ["pixel-original", "latent-latents-hyperprior-msssim-compressai-q1"]
    )
    assert all(r["device"] == "cpu" and r["host"] and r["seconds"] > 0 for r in ranks)
    assert (out / "run.log").is_file() and (out / "run.rank1.log").is_file()
    results = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(results[ACCURACY], one_process[ACCURACY])
    assert len(pd.read_csv(out / "per_image.csv")) == 23


def _rank_pids(parent: int) -> dict[int, int]:
    """rank -> pid of torchrun's worker processes (their environment names the rank)."""
    ranks = {}
    for path in Path("/proc").glob("[0-9]*"):
        try:
            status = (path / "status").read_text()
            ppid = int(status.split("PPid:")[1].split()[0])
            if ppid != parent:
                continue
            env = dict(
                item.split("=", 1)
                for item in (path / "environ").read_bytes().decode(errors="replace").split("\0")
                if "=" in item
            )
        except (OSError, IndexError, ValueError):
            continue
        if "RANK" in env:
            ranks[int(env["RANK"])] = int(path.name)
    return ranks


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs /proc")
def test_a_rank_killed_while_encoding_takes_the_job_down_and_the_rerun_matches(
    tiny_minc, tmp_path, console_script, one_process
):
    out = tmp_path / "run"
    command = _torchrun(console_script, tiny_minc, out)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_env())
    deadline = time.time() + 240
    while len(list(out.glob("cache/*/*/*.json"))) < 4:
        assert proc.poll() is None and time.time() < deadline, proc.communicate()[1][-3000:]
        time.sleep(0.02)
    os.kill(_rank_pids(proc.pid)[1], signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode != 0, "a dead rank takes the job down"
    assert not (out / "results.csv").exists()
    left = len(list(out.glob("cache/*/*/*.json")))
    assert left < 46, "rank 1 was killed before every item was encoded"

    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    _check_cache(out)
    run = json.loads((out / "run.json").read_text())
    assert sum(r["items_encoded"] for r in run["ranks"]) == 46 - left  # only what was missing
    # every invocation is kept (issue 28, item 13): the one that lost a rank, then this
    first, last = run["invocations"]
    assert first["status"] in ("failed", "killed") and last["status"] == "finished"
    assert run["duration_s"] >= last["duration_s"]
    results = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(results[ACCURACY], one_process[ACCURACY])


def test_python_m_jpegai_eval_is_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "jpegai_eval", "--help"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Usage: jpegai-eval" in done.stdout and "run" in done.stdout


@pytest.mark.slow
def test_a_folder_rank_0_refuses_stops_every_rank_with_one_paragraph(
    tiny_minc, tmp_path, console_script
):
    out = tmp_path / "run"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"fingerprint": "another"}))
    done = subprocess.run(
        _torchrun(console_script, tiny_minc, out),
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode != 0
    # Both ranks stop with rank 0's message (none waits for a rank that will not come).
    assert done.stderr.count("holds a run of another configuration") == 2, done.stderr[-3000:]
    assert not (out / "cache").exists() and not (out / "run.log").exists()


# ------------------------------------------------------------- --ddp, 2 ranks, 1 model


@pytest.mark.slow
def test_torchrun_ddp_trains_each_classifier_with_both_ranks(tiny_minc, tmp_path, console_script):
    """`--ddp`: both ranks train every classifier together (half of each global batch
    of the smoke preset's 8 images each), end with the same model, which rank 0
    writes; a rerun retrains only a classifier that is missing."""
    import torch

    from jpegai_eval.framework.run.classify import state_digest

    out = tmp_path / "run"
    command = [*_torchrun(console_script, tiny_minc, out), "--ddp"]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("Results:") == 1
    run = json.loads((out / "run.json").read_text())
    assert run["config"]["ddp"] is True
    assert {k: run["ddp"][k] for k in ("world_size", "global_batch", "per_rank_batch")} == {
        "world_size": 2,
        "global_batch": 8,
        "per_rank_batch": 4,
    }
    names = sorted(["pixel-original", "latent-latents-hyperprior-msssim-compressai-q1"])
    ranks = run["ranks"]
    assert [sorted(r["classifiers_trained"]) for r in ranks] == [names, names]
    for name in names:
        parts = [r["data_parallel"][name] for r in ranks]
        assert [p["rank"] for p in parts] == [0, 1]
        # 23 training images, padded to 24 by the sampler: 12 per rank, 3 steps of 4.
        assert [(p["samples"], p["steps"], p["per_rank_batch"]) for p in parts] == [(12, 3, 4)] * 2
        assert sum(p["samples"] for p in parts) == parts[0]["epoch_samples"] == 24
        assert parts[0]["train_items"] == 23
        # Both ranks ended with the model rank 0 wrote.
        meta = json.loads((out / "classifiers" / name / "meta.json").read_text())
        written = torch.load(out / "classifiers" / name / "model.pt", weights_only=True)
        assert parts[0]["model_sha256"] == parts[1]["model_sha256"] == meta["model_sha256"]
        assert state_digest(written) == meta["model_sha256"]
        assert meta["data_parallel"]["per_rank_batch"] == 4
        assert not (out / "classifiers" / name / "checkpoint.pt").exists()
    assert "data parallel over every rank" in (out / "run.rank1.log").read_text()
    first = pd.read_csv(out / "results.csv")
    assert len(first) == 2 and first["n_test"].eq(23).all()

    # A classifier lost (e.g. a kill while it trained): the rerun trains it alone,
    # again with both ranks, and evaluates its cells; the other one is reused.
    lost = names[0]
    for path in (out / "classifiers" / lost).iterdir():
        path.unlink()
    for path in (out / "cells").iterdir():
        path.unlink()
    again = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    rerun = json.loads((out / "run.json").read_text())
    assert [r["classifiers_trained"] for r in rerun["ranks"]] == [[lost], [lost]]
    digests = {r["data_parallel"][lost]["model_sha256"] for r in rerun["ranks"]}
    assert len(digests) == 1, "both ranks retrained the same model"
    # Same seed, same world size: the same model as the first time, so the same results.
    assert digests == {r["data_parallel"][lost]["model_sha256"] for r in ranks}
    pd.testing.assert_frame_equal(pd.read_csv(out / "results.csv")[ACCURACY], first[ACCURACY])


@pytest.mark.slow
def test_ddp_in_one_process_does_nothing_but_say_so(tiny_minc, tmp_path, one_process):
    script = Path(sys.executable).parent / "jpegai-eval"
    out = tmp_path / "run"
    done = subprocess.run(
        [str(script), *_args(tiny_minc, out), "--ddp"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "run.log").read_text().count("--ddp does nothing in one process") == 1
    run = json.loads((out / "run.json").read_text())
    assert run["ddp"] is False and run["config"]["ddp"] is True
    assert "data_parallel" not in run["ranks"][0]
    results = pd.read_csv(out / "results.csv")
    pd.testing.assert_frame_equal(results[ACCURACY], one_process[ACCURACY])


@pytest.mark.slow
def test_ddp_refuses_a_batch_that_does_not_split_over_the_ranks(
    tiny_minc, tmp_path, console_script
):
    out = tmp_path / "run"
    torchrun = Path(sys.executable).parent / "torchrun"
    command = [str(torchrun), "--standalone", "--nproc_per_node=3", console_script]
    done = subprocess.run(
        [*command, *_args(tiny_minc, out), "--ddp"],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=300,
    )
    assert done.returncode != 0
    # Every rank stops with the one paragraph, before the output folder is touched.
    message = "'smoke' preset's batch of 8 images does not divide over 3 ranks"
    assert done.stderr.count(message) == 3, done.stderr[-3000:]
    frames = [ln for ln in done.stderr.splitlines() if ln.strip().startswith('File "')]
    assert not [ln for ln in frames if "jpegai_eval" in ln], "no traceback of ours (torchrun's own)"
    assert not out.exists()
