"""The run folder's lock: one run per --out at a time, stale locks taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.run.evaluator import run_study
from jpegai_eval.framework.run.plan import RunConfig
from jpegai_eval.framework.run.runlock import LOCK_NAME, RunLock, RunLockedError


@pytest.fixture(scope="module")
def tiny_minc(tmp_path_factory) -> Path:
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path_factory.mktemp("minc")
    write_demo_dataset(root, per_class=3, size=32, seed=3)
    return root


def test_second_lock_on_a_folder_is_refused_naming_the_holder(tmp_path):
    with RunLock(tmp_path / "run") as first:
        assert first.held
        with pytest.raises(RunLockedError) as info:
            RunLock(tmp_path / "run").acquire()
        message = info.value.message
        assert f"pid {os.getpid()}" in message and socket.gethostname() in message
        assert "another --out" in message
    # released: the lock file is gone and the folder the lock made is removed again
    assert not (tmp_path / "run").exists()
    with RunLock(tmp_path / "run"):
        pass


def test_lock_held_by_another_process_is_refused(tmp_path):
    out = tmp_path / "run"
    code = textwrap.dedent(
        f"""
        import sys, time
        from jpegai_eval.framework.run.runlock import RunLock
        with RunLock({str(out)!r}):
            print("locked", flush=True)
            sys.stdin.readline()
        """
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(RunLockedError, match=f"pid {holder.pid} on host"):
            RunLock(out).acquire()
    finally:
        holder.communicate("\n", timeout=30)
    with RunLock(out):  # the holder left: free again
        pass


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = {"pid": 999999, "host": "elsewhere", "started": "2020-01-01T00:00:00"}
    (out / LOCK_NAME).write_text(json.dumps(dead))  # left behind, e.g. by kill -9
    with RunLock(out) as lock:
        assert lock.stale_holder is not None and lock.stale_holder.to_json() == dead
        mine = json.loads((out / LOCK_NAME).read_text())
        assert mine["pid"] == os.getpid()
    assert out.is_dir() and not (out / LOCK_NAME).exists()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_killed_runs_forked_workers_do_not_keep_its_folder_locked(tmp_path):
    """A run killed with kill -9 while a forked worker lives (a DataLoader or encode
    worker outlives its parent for a while) leaves its folder free at once: the worker
    closed its copy of the lock's descriptor, and cannot remove the lock file either."""
    import signal

    out = tmp_path / "run"
    script = textwrap.dedent(
        """
        import os, sys, time
        from jpegai_eval.framework.run.runlock import LOCK_NAME, RunLock
        lock = RunLock(sys.argv[1]).acquire()
        child = os.fork()
        if child == 0:
            null = os.open(os.devnull, os.O_WRONLY)
            os.dup2(null, 1)
            os.dup2(null, 2)
            lock.release()  # a worker that unwinds must not remove the parent's lock file
            time.sleep(60)
            os._exit(0)
        time.sleep(0.5)
        kept = os.path.exists(os.path.join(sys.argv[1], LOCK_NAME))
        print(os.getpid(), child, kept, flush=True)
        os.kill(os.getpid(), 9)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=60
    )
    parent, child, lock_file_kept = proc.stdout.split()
    worker = int(child)
    try:
        assert lock_file_kept == "True"
        os.kill(worker, 0)  # the worker still lives
        with RunLock(out) as lock:  # and the folder is free
            assert lock.stale_holder is not None and lock.stale_holder.pid == int(parent)
    finally:
        os.kill(worker, signal.SIGKILL)


def _config(root: Path) -> RunConfig:
    return RunConfig(
        codecs=["jpeg"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(root)},
        qualities=[1],
        anchors=["anchor3"],
        preset="smoke",
        workers=1,
    )


def test_run_into_a_locked_folder_is_refused_before_any_work(tiny_minc, tmp_path):
    out = tmp_path / "run"
    with RunLock(out):
        with pytest.raises(UserError, match="in use by another run") as info:
            run_study(_config(tiny_minc), out_dir=out)
        assert f"pid {os.getpid()}" in info.value.message
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]  # nothing written


def test_run_on_a_locked_folder_is_refused_before_torch_is_imported(tmp_path):
    """Issue 28, item 14: `jpegai-eval run` into a folder another run holds is refused
    first: before torch is imported (63 s under load before) and before the dataset
    and the weights are checked (here a dataset that does not exist is never read)."""
    out = tmp_path / "run"
    program = textwrap.dedent(
        f"""
        import sys
        from jpegai_eval.cli import main
        try:
            main(["run", "--codec", "hyperprior-msssim", "--task", "minc",
                  "--data-root", {str(tmp_path / "none")!r}, "--out", {str(out)!r}])
        except SystemExit as exc:
            print("torch imported:", "torch" in sys.modules, "exit:", exc.code)
        """
    )
    with RunLock(out):
        done = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            timeout=120,
            # only the built-in plugins, as under pytest: an installed third-party plugin
            # may import torch when it loads, which is not the tool's doing
            env={**os.environ, "JPEGAI_EVAL_LOAD_PLUGINS": ""},
        )
        assert "in use by another run" in done.stderr, done.stderr
        assert f"pid {os.getpid()}" in done.stderr
        assert "torch imported: False exit: 1" in done.stdout, (done.stdout, done.stderr)
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    # A free folder (a lock file left behind, no holder) is not refused by the probe.
    out.mkdir()
    (out / LOCK_NAME).write_text("{}")
    from jpegai_eval.framework.run.runlock import refuse_if_locked

    refuse_if_locked(out)
    refuse_if_locked(tmp_path / "never-made")
