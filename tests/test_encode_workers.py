"""Encode-stage workers (issue 16.2): forked single-threaded workers give exactly the
in-process results, small stages run in process, and the start method is safe."""

from __future__ import annotations

import multiprocessing
import sys

import numpy as np
import pytest

from jpegai_eval.codecs.testing import synthetic_image, write_tiny_checkpoint
from jpegai_eval.framework.api.types import Sample
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.image_io import write_image
from jpegai_eval.framework.run import encode_stage


def _codec():
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior

    return CompressAIHyperprior("ms-ssim")


def test_effective_workers(monkeypatch):
    monkeypatch.setattr(encode_stage, "usable_cores", lambda: 2)
    assert encode_stage.effective_workers(2, 100, "fork") == 2
    assert encode_stage.effective_workers(8, 100, "fork") == 2  # never more than cores
    assert encode_stage.effective_workers(2, 1, "fork") == 1  # never more than jobs
    per = encode_stage.SPAWN_MIN_JOBS_PER_WORKER
    assert encode_stage.effective_workers(2, per, "spawn") == 1  # start-up would not pay
    assert encode_stage.effective_workers(2, 2 * per, "spawn") == 2
    assert encode_stage.effective_workers(1, 100, "fork") == 1
    assert 1 <= encode_stage.default_workers() <= 8


def test_start_method(monkeypatch):
    monkeypatch.delenv(encode_stage.START_METHOD_ENV, raising=False)
    expected = "fork" if sys.platform.startswith("linux") else "spawn"
    if "tensorflow" in sys.modules:
        expected = "spawn"
    assert encode_stage.start_method() == expected
    monkeypatch.setenv(encode_stage.START_METHOD_ENV, "spawn")
    assert encode_stage.start_method() == "spawn"
    monkeypatch.setenv(encode_stage.START_METHOD_ENV, "teleport")
    with pytest.raises(UserError, match="START_METHOD='teleport' is not one of"):
        encode_stage.start_method()


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_forked_workers_write_what_the_in_process_stage_writes(tmp_path, monkeypatch):
    monkeypatch.setenv(encode_stage.START_METHOD_ENV, "fork")
    monkeypatch.setattr(encode_stage, "usable_cores", lambda: 2)
    samples = []
    for i in range(4):
        path = tmp_path / f"img{i}.png"
        write_image(path, synthetic_image(64, 80, seed=i))
        samples.append(Sample(f"img{i}.png", path, i % 2))
    ckpt = tmp_path / "tiny.pt"
    write_tiny_checkpoint(ckpt, quality=1)
    codec = _codec()
    results = {}
    for workers in (1, 2):
        cell = encode_stage.open_cell(codec, 1, str(ckpt), tmp_path / f"cache{workers}")
        jobs = encode_stage.make_jobs([cell], samples)
        done = list(encode_stage.run_jobs(jobs, workers))
        assert [j.sample.id for j, _ in done] == [s.id for s in samples]  # order kept
        results[workers] = {
            j.sample.id: (
                {k: r.value(k) for k in ("bpp", "psnr", "ssim", "ms_ssim")},
                {s: j.cell.paths(j.key)[s].read_bytes() for s in ("jai", "png")},
                {k: v.tobytes() for k, v in np.load(j.cell.paths(j.key)["npz"]).items()},
            )
            for j, r in done
        }
    assert results[1] == results[2]
