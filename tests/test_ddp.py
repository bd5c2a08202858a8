"""``--ddp`` (issue 15, item 3): one classifier trained by every rank together --
the batch-split rule, SyncBatchNorm on the CPU, and data-parallel training, resume and
reproducibility on a real 2-rank gloo group (no mocks). The end-to-end `torchrun ...
run --ddp` test is in test_distributed.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from jpegai_eval.framework.errors import UsageError
from jpegai_eval.framework.run import distributed
from jpegai_eval.framework.run.classify import state_digest
from jpegai_eval.tasks import data_parallel, training
from jpegai_eval.tasks.minc import MincTask

# ------------------------------------------------------------- the batch-split rule


def test_the_presets_batch_is_the_global_batch_split_evenly_over_the_ranks():
    assert data_parallel.split_batch(32, 1) == 32
    assert data_parallel.split_batch(32, 4) == 8
    assert data_parallel.split_batch(8, 8) == 1
    with pytest.raises(UsageError) as err:
        data_parallel.split_batch(32, 3, "paper")
    message = err.value.message
    assert "'paper' preset's batch of 32 images does not divide over 3 ranks" in message
    assert "(2, 4, 8, 16, 32)" in message and "leave out --ddp" in message
    with pytest.raises(UsageError, match="batch of 8 images does not divide over 16 ranks"):
        data_parallel.split_batch(8, 16)


def test_the_task_states_the_rule_for_run_json():
    task = MincTask()
    smoke = training.get_preset("smoke")
    rule = task.data_parallel("smoke", 2)
    assert rule["world_size"] == 2 and rule["global_batch"] == smoke.batch_size
    assert rule["per_rank_batch"] * 2 == smoke.batch_size
    assert rule["lr"] == smoke.lr and rule["batchnorm"] == "SyncBatchNorm"
    with pytest.raises(UsageError, match="does not divide over 3 ranks"):
        task.data_parallel("smoke", 3)


def test_a_task_without_a_data_parallel_mode_refuses_ddp():
    from jpegai_eval.framework.api.types import Task

    class Plain(MincTask):
        data_parallel = Task.data_parallel  # the default: no data-parallel mode

    with pytest.raises(UsageError, match="cannot train one classifier over several"):
        Plain().data_parallel("smoke", 2)


def test_ddp_on_cuda_needs_a_gpu_per_rank():
    check = distributed.check_gpus_for_ddp
    check("cpu", {"LOCAL_WORLD_SIZE": "8"}, gpus=0)  # gloo: any number of ranks
    check("cuda", {"LOCAL_WORLD_SIZE": "2"}, gpus=2)
    check("cuda:1", {}, gpus=1)
    with pytest.raises(UsageError, match="this node runs 2 ranks on 1 GPU"):
        check("cuda", {"LOCAL_WORLD_SIZE": "2"}, gpus=1)


class TinyNet(nn.Module):
    """A classifier with BatchNorm2d and BatchNorm1d, small enough to train in a test."""

    def __init__(self, channels: int = 8, classes: int = 4) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(channels, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Linear(8, 8), nn.BatchNorm1d(8), nn.ReLU())
        self.fc = nn.Linear(8, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.head(self.features(x)))


def test_sync_batchnorm_converts_back_to_the_same_model():
    torch.manual_seed(0)
    model = TinyNet()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    assert data_parallel.convert_sync_batchnorm(model) is model
    # On the CPU: CpuSyncBatchNorm (PyTorch's SyncBatchNorm needs a GPU).
    synced = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert [type(m) for m in synced] == [data_parallel.CpuSyncBatchNorm] * 2
    assert model.state_dict().keys() == before.keys()
    data_parallel.revert_sync_batchnorm(model)
    assert type(model.features[1]) is nn.BatchNorm2d and type(model.head[1]) is nn.BatchNorm1d
    assert not any(isinstance(m, data_parallel.CpuSyncBatchNorm) for m in model.modules())
    assert state_digest(model.state_dict()) == state_digest(before)
    # Without a process group SyncBatchNorm is BatchNorm (and --ddp is ignored).
    assert data_parallel.process_group_size() == 1


# ------------------------------------------------------------ a real 2-rank group

EPOCHS = 2
PRESET = training.get_preset(
    "smoke",
    epochs=EPOCHS,
    batch_size=8,
    lr=0.05,
    milestones=(),
    latent_resize=8,
    latent_crop=6,
)


def _latent_items(folder: Path, n: int) -> list[tuple[Path, int]]:
    """``n`` latents .npz files (8 channels: y_hat 4, sigma_hat 4) whose class shows."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    items = []
    for i in range(n):
        label = i % 4
        y = rng.normal(label - 1.5, 1.0, (4, 8, 8)).astype(np.float32)
        s = np.full((4, 8, 8), 0.5 + label, np.float32) + rng.normal(0, 0.1, (4, 8, 8))
        path = folder / f"{i}.npz"
        np.savez(path, y_hat=y, sigma_hat=s.astype(np.float32))
        items.append((path, label))
    return items


def _train(items, folder: Path, ddp: bool, log=None) -> tuple[nn.Module, training.TrainResult]:
    torch.manual_seed(11)  # the same initial weights on every rank (classify seeds so too)
    model = TinyNet()
    result = training.train_classifier(
        model,
        items,
        PRESET,
        "latent",
        folder,
        device="cpu",
        workers=0,
        seed=5,
        progress=False,
        log=log,
        ddp=ddp,
    )
    return model, result


class _Stop(Exception):
    pass


def _stop_after_epoch_1(line: str) -> None:
    if line.startswith("epoch 1/"):
        raise _Stop


def _sync_bn_check(rank: int) -> dict[str, float]:
    """SyncBatchNorm on this rank's half of a batch against BatchNorm on all of it."""
    torch.manual_seed(0)
    x = torch.randn(6, 3, 5, 5) * 3 + 1
    weight = torch.randn(3)
    plain = nn.BatchNorm2d(3)
    synced = data_parallel.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3)))[0]
    for bn in (plain, synced):
        with torch.no_grad():
            bn.weight.mul_(2.0)
    xs = x.clone().requires_grad_(True)
    full = plain(xs)
    (full * weight.view(1, 3, 1, 1)).sum().backward()
    half = x[rank * 3 : rank * 3 + 3].clone().requires_grad_(True)
    out = synced(half)
    (out * weight.view(1, 3, 1, 1)).sum().backward()
    # DDP averages the parameters' gradients over the ranks; the sum is the global one.
    grad_w = synced.weight.grad.clone()
    torch.distributed.all_reduce(grad_w)
    return {
        "out": float((out - full[rank * 3 : rank * 3 + 3]).detach().abs().max()),
        "grad_x": float((half.grad - xs.grad[rank * 3 : rank * 3 + 3]).abs().max()),
        "grad_w": float((grad_w - plain.weight.grad).abs().max()),
        "running_var": float((synced.running_var - plain.running_var).abs().max()),
        "running_mean": float((synced.running_mean - plain.running_mean).abs().max()),
    }


def _ddp_worker(rank: int, size: int, port: int, root: str) -> None:
    os.environ.update(
        RANK=str(rank),
        WORLD_SIZE=str(size),
        LOCAL_RANK=str(rank),
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        OMP_NUM_THREADS="1",
    )
    torch.set_num_threads(1)
    base = Path(root)
    report: dict[str, object] = {}
    with distributed.session("cpu"):
        report["sync_bn"] = _sync_bn_check(rank)
        items = _latent_items(base / "items", 8)  # one global batch of 8 per epoch
        model, result = _train(items, base / "a", ddp=True)
        report["a"] = {"record": result.data_parallel, "digest": state_digest(model.state_dict())}
        report["a_kinds"] = sorted({type(m).__name__ for m in model.modules()})
        torch.save(model.state_dict(), base / f"a-rank{rank}.pt")
        again, _ = _train(items, base / "again", ddp=True)
        report["again"] = state_digest(again.state_dict())
        try:
            _train(items, base / "b", ddp=True, log=_stop_after_epoch_1)
        except _Stop:
            report["stopped"] = sorted(p.name for p in (base / "b").iterdir())
        resumed, result = _train(items, base / "b", ddp=True)
        report["b"] = {
            "record": result.data_parallel,
            "resumed_from_epoch": result.resumed_from_epoch,
            "digest": state_digest(resumed.state_dict()),
            "history": result.history,
        }
        odd = _latent_items(base / "odd", 7)  # not a multiple of the world size
        _, result = _train(odd, base / "odd-run", ddp=True)
        report["odd"] = result.data_parallel
    (base / f"rank{rank}.json").write_text(json.dumps(report))


@pytest.mark.slow
def test_data_parallel_training_on_a_real_gloo_group(tmp_path):
    """Two ranks train one model together: both take part (half of each global batch),
    they end with the same weights, the rerun with the same world size is identical,
    an interrupted training resumes on both ranks from rank 0's checkpoint, and with
    one global batch per epoch the result is one process's training on that batch (the
    global batch and the learning rate are the preset's; SyncBatchNorm sees the whole
    batch)."""
    import torch.multiprocessing as mp

    from tests.test_distributed import _free_port

    mp.start_processes(
        _ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, start_method="spawn"
    )
    reports = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]

    for r in reports:  # SyncBatchNorm on the CPU is BatchNorm over the global batch
        assert max(r["sync_bn"].values()) < 1e-5, r["sync_bn"]

    a = [r["a"] for r in reports]
    assert [x["record"]["rank"] for x in a] == [0, 1]
    for x in a:
        record = x["record"]
        assert (record["world_size"], record["global_batch"], record["per_rank_batch"]) == (
            2,
            8,
            4,
        )
        assert [e["samples"] for e in record["epochs"]] == [4] * EPOCHS
        assert [e["steps"] for e in record["epochs"]] == [1] * EPOCHS
    assert sum(x["record"]["samples"] for x in a) == 8 * EPOCHS  # every image, once
    assert a[0]["digest"] == a[1]["digest"], "both ranks hold the same model"
    assert reports[0]["a_kinds"] == reports[1]["a_kinds"]
    assert "BatchNorm2d" in reports[0]["a_kinds"]
    assert not any("Sync" in kind for kind in reports[0]["a_kinds"])
    # Rank 0 alone wrote the checkpoint, and it holds that model.
    checkpoint = training.read_checkpoint(tmp_path / "a" / training.CHECKPOINT)
    assert state_digest(checkpoint["model"]) == a[0]["digest"]
    assert not list((tmp_path / "a").glob(".*tmp*"))
    assert [r["again"] for r in reports] == [a[0]["digest"]] * 2, "reproducible"

    # Interrupted after epoch 1 (both ranks), then resumed from the checkpoint.
    assert reports[0]["stopped"] == [training.CHECKPOINT]
    b = [r["b"] for r in reports]
    assert [x["resumed_from_epoch"] for x in b] == [1, 1]
    assert [[e["epoch"] for e in x["record"]["epochs"]] for x in b] == [[2], [2]]
    assert [x["digest"] for x in b] == [a[0]["digest"]] * 2, "resumed = uninterrupted"
    assert [row["epoch"] for row in b[0]["history"]] == [1, 2]

    # 7 images over 2 ranks: the sampler repeats one, so each rank takes one step of 4;
    # the records say how many images the epoch held.
    odd = [r["odd"] for r in reports]
    assert [x["samples"] for x in odd] == [4 * EPOCHS] * 2
    assert odd[0]["epoch_samples"] == 8 and odd[0]["train_items"] == 7

    # One process training the same single global batch per epoch: the same model, up
    # to the order of floating-point sums.
    items = _latent_items(tmp_path / "items", 8)
    single, result = _train(items, tmp_path / "single", ddp=False)
    assert result.data_parallel == {}
    ddp_state = torch.load(tmp_path / "a-rank0.pt", weights_only=True)
    for name, value in single.state_dict().items():
        torch.testing.assert_close(ddp_state[name], value, rtol=1e-4, atol=1e-5, msg=name)
