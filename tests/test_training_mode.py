"""--deterministic / --no-deterministic (issue 26, item 1): the rule per device, what
run.json says, the CPU default unchanged bit for bit, the fast loader's batches, and
the CUDA code path (bf16 autocast, channels_last) exercised on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from jpegai_eval.framework.run.runfolder import determinism
from jpegai_eval.framework.run.training_mode import TrainingMode, training_mode
from jpegai_eval.tasks import training
from jpegai_eval.tasks.models import CResNet39

torch.set_num_threads(1)

TINY = dict(
    epochs=2,
    batch_size=4,
    lr=0.01,
    milestones=(),
    latent_resize=8,
    latent_crop=6,
    color_jitter=0.0,
    pca_lighting=0.0,
)


@pytest.fixture(scope="module")
def latent_items(tmp_path_factory):
    folder = tmp_path_factory.mktemp("latents")
    rng = np.random.default_rng(0)
    items = []
    for i in range(10):
        path = folder / f"{i}.npz"
        y = rng.normal(i % 3, 1.0, (4, 8, 8)).astype(np.float32)
        np.savez(path, y_hat=y, sigma_hat=np.abs(y) + 0.1)
        items.append((path, i % 3))
    return items


def test_the_rule_per_device():
    cpu = training_mode("cpu")
    assert cpu.deterministic and cpu.autocast is None and not cpu.channels_last
    assert not cpu.cudnn_benchmark and not cpu.persistent_workers and cpu.prefetch_factor is None
    cuda = training_mode("cuda:1")
    assert not cuda.deterministic and cuda.autocast == "bfloat16"
    assert cuda.channels_last and cuda.cudnn_benchmark and cuda.persistent_workers
    assert training_mode("cuda", deterministic=True) == TrainingMode(
        "cuda", True, None, False, False, False, None
    )
    assert training_mode("cuda", bf16_supported=False).autocast is None  # pre-Ampere: fp32
    fast_cpu = training_mode("cpu", deterministic=False)
    assert fast_cpu.persistent_workers and fast_cpu.autocast is None
    assert not fast_cpu.channels_last and not fast_cpu.deterministic


def test_run_json_records_the_mode_either_way():
    cpu = determinism("cpu")
    assert cpu["deterministic_algorithms"] and "bit-identical" in cpu["guarantee"]
    assert cpu["training_mode"]["deterministic"] is True
    fast = determinism("cuda")
    assert fast["training_mode"]["autocast"] == "bfloat16"
    assert not fast["deterministic_algorithms"] and "--deterministic" in fast["guarantee"]
    slow = determinism("cuda", deterministic=True)
    assert slow["deterministic_algorithms"] and slow["training_mode"]["autocast"] is None
    assert slow["guarantee"].startswith("none on CUDA")
    assert "none" in determinism("cpu", deterministic=False)["guarantee"]
    json.dumps([cpu, fast, slow])  # plain JSON


def _train(items, folder: Path, **kwargs):
    torch.manual_seed(123)
    model = CResNet39(4, 4, width=0.25)
    result = training.train_classifier(
        model,
        items,
        training.get_preset("quick", **TINY),
        "latent",
        folder,
        device="cpu",
        workers=0,
        seed=5,
        progress=False,
        **kwargs,
    )
    return model, result


def _same(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.slow
def test_cpu_default_is_the_deterministic_training_bit_for_bit(latent_items, tmp_path):
    default, result = _train(latent_items, tmp_path / "a")
    explicit, _ = _train(latent_items, tmp_path / "b", deterministic=True)
    assert _same(default, explicit)
    assert result.training_mode["deterministic"] is True
    fast, fast_result = _train(latent_items, tmp_path / "c", deterministic=False)
    assert fast_result.training_mode["persistent_workers"] is True
    assert not _same(default, fast)  # another shuffle: the test can tell them apart
    assert not torch.are_deterministic_algorithms_enabled()  # restored afterwards


def _batches(loader, dataset, epochs, seed):
    out = []
    generator = loader.generator
    for epoch in range(epochs):
        if generator is not None:
            generator.manual_seed(seed * 1000 + epoch)
        dataset.epoch = epoch
        out.append([(x.clone(), y.clone()) for x, y in loader])
    return out


def _equal(a, b) -> bool:
    return all(
        len(ea) == len(eb)
        and all(
            torch.equal(x, u) and torch.equal(y, v) for (x, y), (u, v) in zip(ea, eb, strict=True)
        )
        for ea, eb in zip(a, b, strict=True)
    )


def test_deterministic_loader_is_pytorchs_own(latent_items):
    """The default (deterministic) loader gives the batches a plain shuffled
    DataLoader gives, as the training loop always had: the CPU's results are unchanged."""
    preset = training.get_preset("quick", **TINY)
    dataset = training.ItemDataset(latent_items, "latent", preset, train=True, seed=5)
    mode = training_mode("cpu")
    ours = training._loader(
        dataset,
        4,
        shuffle=True,
        workers=0,
        device=torch.device("cpu"),
        generator=torch.Generator(),
        mode=mode,
    )
    plain = torch.utils.data.DataLoader(
        dataset, batch_size=4, shuffle=True, generator=torch.Generator()
    )
    assert _equal(_batches(ours, dataset, 2, 5), _batches(plain, dataset, 2, 5))


@pytest.mark.slow
def test_fast_loader_persistent_workers_see_each_epoch(latent_items):
    """Persistent workers keep a copy of the dataset: the epoch reaches them with each
    index, so two workers give exactly the in-process batches, epoch after epoch."""
    preset = training.get_preset("quick", **TINY)
    mode = training_mode("cpu", deterministic=False)
    runs = []
    for workers in (0, 2):
        dataset = training.ItemDataset(latent_items, "latent", preset, train=True, seed=5)
        loader = training._loader(
            dataset,
            4,
            shuffle=True,
            workers=workers,
            device=torch.device("cpu"),
            generator=torch.Generator(),
            mode=mode,
        )
        assert loader.persistent_workers == (workers > 0)
        runs.append(_batches(loader, dataset, 3, 5))
    assert _equal(runs[0], runs[1])
    first, second = runs[0][0], runs[0][1]
    assert not torch.equal(first[0][0], second[0][0])  # each epoch its own augmentation


@pytest.mark.slow
def test_cuda_code_path_on_the_cpu_keeps_fp32_weights(latent_items, tmp_path, monkeypatch):
    """The fast mode's bf16 autocast and channels_last, run on the CPU: training
    works, the weights stay fp32 and contiguous, and the ONNX export matches PyTorch."""
    reference, _ = _train(latent_items, tmp_path / "r", deterministic=False)  # fp32
    fast = TrainingMode("cpu", False, "bfloat16", True, True, True, 4)
    monkeypatch.setattr(training, "resolve_training_mode", lambda dev, det: fast)
    saved = torch.backends.cudnn.benchmark
    model, result = _train(latent_items, tmp_path / "m")
    assert torch.backends.cudnn.benchmark == saved  # restored
    assert result.training_mode["autocast"] == "bfloat16"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(p.is_contiguous() for p in model.parameters())
    assert not _same(model, reference)  # autocast really ran: bf16 rounding shows

    from jpegai_eval.framework.run.onnx_runtime import export, open_session, parity

    x = np.random.default_rng(1).normal(size=(3, 8, 6, 6)).astype(np.float32)
    model.eval()
    path = export(model, (torch.from_numpy(x),), ["input"], tmp_path / "m.onnx")
    assert parity(model, open_session(path, "cpu"), (x,)) < 1e-3


def test_the_choice_is_an_option_of_run_and_not_part_of_the_fingerprint():
    from click.testing import CliRunner

    from jpegai_eval.cli import cli
    from jpegai_eval.framework.run.plan import RunConfig

    out = CliRunner().invoke(cli, ["run", "--task", "minc", "--help"]).output
    assert "--deterministic / --no-deterministic" in out
    base = RunConfig(codecs=["jpeg"], task="minc")
    assert RunConfig(codecs=["jpeg"], task="minc", deterministic=False).fingerprint() == (
        base.fingerprint()
    )


@pytest.mark.slow
def test_a_run_records_the_mode_in_run_json_and_meta_json(tmp_path):
    """--no-deterministic reaches the task's training through the run, on the CPU."""
    from jpegai_eval.framework.run.evaluator import run_study
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks.demo import write_demo_dataset

    root = write_demo_dataset(tmp_path / "minc", per_class=3, size=48, seed=3)
    config = RunConfig(
        codecs=["jpeg"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(root)},
        qualities=[1],
        anchors=["anchor3"],
        preset="smoke",
        workers=1,
        device="cpu",
        deterministic=False,
    )
    run_study(config, out_dir=tmp_path / "out")
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["determinism"]["training_mode"]["deterministic"] is False
    assert run["config"]["deterministic"] is False
    meta = json.loads((tmp_path / "out/classifiers/pixel-original/meta.json").read_text())
    assert meta["training_mode"]["persistent_workers"] is True


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")
def test_cuda_default_trains_fast_and_keeps_fp32_weights(latent_items, tmp_path):
    """On a GPU: the default is the fast mode (bf16 where the GPU has it), the trained
    weights are fp32 and contiguous, and --deterministic trains fp32."""
    torch.manual_seed(123)
    model = CResNet39(4, 4, width=0.25)
    preset = training.get_preset("quick", **TINY)
    result = training.train_classifier(
        model,
        latent_items,
        preset,
        "latent",
        tmp_path / "f",
        device="cuda",
        workers=2,
        progress=False,
    )
    mode = result.training_mode
    assert not mode["deterministic"] and mode["channels_last"] and mode["cudnn_benchmark"]
    assert mode["autocast"] == ("bfloat16" if torch.cuda.is_bf16_supported() else None)
    assert all(p.dtype == torch.float32 and p.is_contiguous() for p in model.parameters())
    slow = training.train_classifier(
        CResNet39(4, 4, width=0.25),
        latent_items,
        preset,
        "latent",
        tmp_path / "d",
        device="cuda",
        workers=0,
        progress=False,
        deterministic=True,
    )
    assert slow.training_mode["autocast"] is None and slow.training_mode["deterministic"]
