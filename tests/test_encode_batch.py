"""Batched encoding in the encode stage (issue 26.3): a CompressAI model encodes the
images still to do in batches in the main process (``encode_batch``), the workers decode,
measure and store each one. On the CPU (forced with ``encode_batch=N``) the cache
entries are those of the per-image path; unreadable or too small images fail alone,
with their path; a failing batch is coded image by image; the cache still resumes."""

from __future__ import annotations

import json
import multiprocessing
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from jpegai_eval.codecs.testing import synthetic_image, write_tiny_checkpoint
from jpegai_eval.framework.api.types import Sample
from jpegai_eval.framework.io.image_io import write_image
from jpegai_eval.framework.run import encode_stage
from jpegai_eval.framework.run.records import EncodedEntry, EncodeFailure

#: Two padded sizes (64x128 and 128x64), so encode_batch groups them.
SIZES = [(64, 80), (64, 80), (96, 64), (64, 80), (96, 64)]


@pytest.fixture()
def tiny(tmp_path):
    """Five images of two sizes and a tiny hyperprior checkpoint."""
    samples = []
    for i, (h, w) in enumerate(SIZES):
        path = tmp_path / f"img{i}.png"
        write_image(path, synthetic_image(h, w, seed=i))
        samples.append(Sample(f"img{i}.png", path, i % 2))
    ckpt = tmp_path / "tiny.pt"
    write_tiny_checkpoint(ckpt, quality=1)
    return samples, str(ckpt)


def _codec():
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior

    return CompressAIHyperprior("ms-ssim")


def _spied(monkeypatch, cell, fail=False):
    """Count the model's encode_batch calls (images per call) and its encode calls."""
    model = encode_stage._models[encode_stage._model_key(cell.codec, cell.cache)]
    seen = SimpleNamespace(batches=[], singles=0)
    batch, single = model.encode_batch, model.encode

    def encode_batch(images, batch_size=8):
        seen.batches.append(len(images))
        if fail:
            raise RuntimeError("CUDA out of memory (pretend)")
        return batch(images, batch_size)

    def encode(image):
        seen.singles += 1
        return single(image)

    monkeypatch.setattr(model, "encode_batch", encode_batch)
    monkeypatch.setattr(model, "encode", encode)
    return seen


def _entries(done):
    """Per image: the metrics but the times, and the bytes of the entry's files."""
    out = {}
    for job, result in done:
        assert isinstance(result, EncodedEntry), result
        paths = job.cell.paths(job.key)
        meta = json.loads(paths["json"].read_text())
        out[job.sample.id] = (
            {k: v for k, v in meta.items() if not k.endswith("_ms") and k != "files"},
            {s: paths[s].read_bytes() for s in ("jai", "png")},
            {k: v.tobytes() for k, v in np.load(paths["npz"]).items()},
        )
    return out


def _run(samples, ckpt, cache):
    cell = encode_stage.open_cell(_codec(), 1, ckpt, cache)
    return cell, encode_stage.make_jobs([cell], samples)


def test_batched_stage_writes_what_the_per_image_stage_writes(tiny, tmp_path, monkeypatch):
    samples, ckpt = tiny
    cell, jobs = _run(samples, ckpt, tmp_path / "single")
    single = _entries(encode_stage.run_jobs(jobs, 1, encode_batch=0))
    cell, jobs = _run(samples, ckpt, tmp_path / "batched")
    seen = _spied(monkeypatch, cell)
    done = list(encode_stage.run_jobs(jobs, 1, encode_batch=3))
    # Batches of 3 then 2 jobs; each call holds the images of its chunk (any size).
    assert seen.batches == [3, 2] and seen.singles == 0  # no silent per-image fallback
    assert [j.sample.id for j, _ in done] == [s.id for s in samples]
    batched = _entries(done)
    assert batched == single
    times = [r.value("encode_ms") for _, r in done]
    assert all(t is not None and t > 0 for t in times)


@pytest.mark.skipif("fork" not in multiprocessing.get_all_start_methods(), reason="no fork")
def test_batched_stage_with_forked_workers(tiny, tmp_path, monkeypatch):
    """The pool draws the batches from its feeder thread; the workers decode the jobs'
    bitstreams (the models they inherited are never asked to encode)."""
    monkeypatch.setenv(encode_stage.START_METHOD_ENV, "fork")
    monkeypatch.setattr(encode_stage, "usable_cores", lambda: 2)
    samples, ckpt = tiny
    cell, jobs = _run(samples, ckpt, tmp_path / "single")
    single = _entries(encode_stage.run_jobs(jobs, 1, encode_batch=1))
    cell, jobs = _run(samples, ckpt, tmp_path / "forked")
    seen = _spied(monkeypatch, cell)
    batched = _entries(encode_stage.run_jobs(jobs, 2, encode_batch=4))
    assert seen.batches == [4, 1]
    assert batched == single


def test_unreadable_and_small_images_fail_alone(tiny, tmp_path, monkeypatch):
    samples, ckpt = tiny
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not an image")
    small = tmp_path / "small.png"
    write_image(small, synthetic_image(32, 32, seed=7))
    mixed = [samples[0], Sample("bad.png", bad, 0), samples[1], Sample("small.png", small, 1)]
    cell, jobs = _run(mixed, ckpt, tmp_path / "cache")
    seen = _spied(monkeypatch, cell)
    done = dict((j.sample.id, r) for j, r in encode_stage.run_jobs(jobs, 1, encode_batch=8))
    assert seen.batches == [2]  # the two good images, batched together
    assert isinstance(done["img0.png"], EncodedEntry)
    assert isinstance(done["img1.png"], EncodedEntry)
    assert isinstance(done["bad.png"], EncodeFailure) and str(bad) in done["bad.png"].error
    assert isinstance(done["small.png"], EncodeFailure)
    assert str(small) in done["small.png"].error and "too small" in done["small.png"].error


def test_a_failing_batch_is_coded_image_by_image(tiny, tmp_path, monkeypatch):
    samples, ckpt = tiny
    cell, jobs = _run(samples[:3], ckpt, tmp_path / "cache")
    seen = _spied(monkeypatch, cell, fail=True)
    told = []
    done = list(
        encode_stage.run_jobs(
            jobs, 1, encode_batch=4, on_batch_failed=lambda js, why: told.append((len(js), why))
        )
    )
    assert all(isinstance(r, EncodedEntry) for _, r in done)
    assert seen.batches == [3] and seen.singles == 3
    assert told == [(3, "RuntimeError: CUDA out of memory (pretend)")]


def test_batched_stage_resumes_and_redoes_damaged_entries(tiny, tmp_path, monkeypatch):
    samples, ckpt = tiny
    cell, jobs = _run(samples, ckpt, tmp_path / "cache")
    first = _entries(encode_stage.run_jobs(jobs, 1, encode_batch=8))
    paths = [j.cell.paths(j.key) for j in jobs]
    for path in paths[1].values():  # never written (an interrupted stage)
        path.unlink()
    paths[3]["png"].write_bytes(b"damaged")
    seen = _spied(monkeypatch, cell)
    damaged = []
    done = list(
        encode_stage.run_jobs(
            jobs, 1, on_damaged=lambda j, why: damaged.append(j.sample.id), encode_batch=8
        )
    )
    assert seen.batches == [2] and seen.singles == 0  # only images 1 and 3, batched
    assert damaged == ["img3.png"]
    redone = {j.sample.id for j, r in done if not r.reused}
    assert redone == {"img1.png", "img3.png"} and len(done) == 5
    assert _entries(done) == first


def test_batch_size_and_codec_device():
    cpu = SimpleNamespace(encode_batch=lambda images, batch_size: [], device="cpu")
    gpu = SimpleNamespace(encode_batch=lambda images, batch_size: [], device="cuda:0")
    plain = SimpleNamespace(device="cuda")
    assert [encode_stage.batch_size(cpu, n) for n in (None, 0, 1, 6)] == [1, 1, 1, 6]
    auto = encode_stage.AUTO_BATCH
    assert [encode_stage.batch_size(gpu, n) for n in (None, 0, 1, 6)] == [auto, 1, 1, 6]
    assert encode_stage.batch_size(plain, 8) == 1 and encode_stage.batch_size(None, 8) == 1
    assert encode_stage.codec_device("cuda:1", None) == "cuda:1"
    assert encode_stage.codec_device("cuda", 4) == "cuda"
    assert encode_stage.codec_device("cuda", 1) == "cpu"
    assert encode_stage.codec_device("cpu", 8) == "cpu"


def test_run_json_records_the_encode_mode(tmp_path, monkeypatch):
    from jpegai_eval.framework.run import evaluator
    from jpegai_eval.framework.run.evaluator import prepare, run_setup
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = tmp_path / "minc"
    write_demo_dataset(root, per_class=3, size=64, seed=3)
    for asked, batch in ((None, 1), (4, 4)):
        config = RunConfig(
            codecs=["hyperprior-msssim", "jpeg"],
            task="minc",
            task_options={"dataset": "minc", "data_root": str(root)},
            qualities=[1],
            weights="demo",
            preset="smoke",
            workers=1,
            encode_batch=asked,
        )
        study, _, _ = prepare(config, tmp_path / "run")
        setup = run_setup(study)
        assert setup["config"]["encode_batch"] == asked
        assert setup["encode"] == {
            "hyperprior-msssim-compressai-q1": {"batch": batch, "device": "cpu"},
            "jpeg-pillow-q1": {"batch": 1, "device": "cpu"},  # no encode_batch: one by one
        }
    # The run's encode stage takes --encode-batch: the hyperprior's images go in batches.
    study.out_dir.mkdir()
    seen = _spied(monkeypatch, study.cells[("hyperprior-msssim/compressai", 1)])
    encoded = evaluator.encode_stage(study.plan, study.samples, study.out_dir, study.cells)
    everything = sum(len(v) for v in study.samples.values())
    assert sum(seen.batches) == everything and max(seen.batches) == 4 and seen.singles == 0
    assert not encoded.failed and encoded.encoded_now == 2 * everything


def test_the_run_command_takes_encode_batch():
    from click.testing import CliRunner

    from jpegai_eval.cli import cli
    from jpegai_eval.cli.run import RunOptions

    result = CliRunner().invoke(cli, ["run", "--help"])
    assert "--encode-batch" in result.output
    params = dict.fromkeys(f for f in RunOptions.__dataclass_fields__ if f != "task_options")
    params.update(codecs=("jpeg",), task="minc", preset="smoke", device="auto", metrics="fast")
    params.update(workers=1, seed=0, ddp=False, force=False, skip_bad_images=False)
    params.update(encode_batch=8)
    assert RunOptions.from_params(params).config(1).encode_batch == 8


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_gpu_encode_stage_batches_on_cuda_and_entries_decode(tiny, tmp_path, monkeypatch):
    """On a GPU, by default: the model is opened on CUDA, its images are encoded in
    batches there (none one by one), and each stored decoded image is what the codec
    decodes from the stored bitstream on that device."""
    samples, ckpt = tiny
    device = encode_stage.codec_device("cuda", None)
    cell = encode_stage.open_cell(_codec(), 1, ckpt, tmp_path / "gpu", device=device)
    assert cell.device.startswith("cuda")
    seen = _spied(monkeypatch, cell)
    done = list(encode_stage.run_jobs(encode_stage.make_jobs([cell], samples), 1))
    assert seen.batches == [len(samples)] and seen.singles == 0
    model = encode_stage._models[encode_stage._model_key(cell.codec, cell.cache)]
    from jpegai_eval.framework.io.image_io import read_image

    for job, result in done:
        assert isinstance(result, EncodedEntry), result
        paths = job.cell.paths(job.key)
        decoded = model.decode(paths["jai"].read_bytes())
        assert np.array_equal(decoded, read_image(paths["png"]))
