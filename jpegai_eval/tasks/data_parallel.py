"""``--ddp``: one classifier trained by every rank of a ``torchrun`` job together.

By default the ranks of a job take whole classifiers; with fewer classifiers than ranks
some would idle. Under ``--ddp`` every rank trains every classifier together:

- **Model.** Its BatchNorm layers become SyncBatchNorm (statistics over the whole
  global batch, every rank's share of it) and it is wrapped in
  :class:`~torch.nn.parallel.DistributedDataParallel`, which averages the gradients
  over the ranks (``device_ids`` is the rank's GPU on CUDA, none on the CPU). PyTorch's
  SyncBatchNorm runs on GPUs only (and DDP refuses it on the CPU); on the CPU (gloo)
  :class:`CpuSyncBatchNorm` computes the same statistics with two differentiable
  all-reduces.
- **Data.** A :class:`~torch.utils.data.DistributedSampler` (``shuffle=True``, seeded
  by the run's seed, ``set_epoch`` every epoch) gives each rank every
  ``world_size``-th image of the epoch's order. When the number of training images is
  not a multiple of the world size it repeats the first few images of the epoch's
  order (fewer than the world size), so that every rank takes the same number of
  steps; no image is left out.
- **The batch and learning-rate rule** (:func:`split_batch`). The preset's batch size
  is the *global* batch: each rank takes ``batch_size // world_size`` images per step,
  and the preset must divide evenly (a clear error otherwise). The gradient DDP applies
  is the mean over the global batch and SyncBatchNorm normalises over it, so one step
  is a step of the preset's recipe; the learning rate and its schedule stay the
  preset's (no linear scaling: the global batch did not grow). The images are drawn in
  another order than in one process, so the accuracies are those of the same recipe,
  not bit-identical to a one-process run. With the same seed and world size a run is
  reproducible: augmentation is seeded per (seed, epoch, image) as in one process.
- **Files.** Rank 0 alone writes the checkpoint (atomically, as in one process) while
  the others wait at a barrier; a rerun resumes on every rank from the same checkpoint,
  which holds the plain model's weights (SyncBatchNorm's are BatchNorm's), so a
  training can also resume with another world size or without ``--ddp``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypedDict

import torch
import torch.distributed as dist
from torch import nn

from jpegai_eval.framework.errors import UsageError


def process_group_size() -> int:
    """The world size of the initialised default process group (1 when none)."""
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_world_size())
    return 1


def rank() -> int:
    """This process's rank in the default process group (0 when none)."""
    if dist.is_available() and dist.is_initialized():
        return int(dist.get_rank())
    return 0


def split_batch(batch_size: int, world_size: int, preset: str = "") -> int:
    """Each rank's batch under ``--ddp``: the preset's ``batch_size`` is the global
    batch, split evenly over ``world_size`` ranks. A :class:`UsageError` when it does
    not divide evenly."""
    if world_size < 1:
        raise ValueError(f"world_size must be at least 1, got {world_size}")
    if batch_size % world_size:
        whose = f"the {preset!r} preset's" if preset else "the"
        fits = [n for n in range(2, batch_size + 1) if batch_size % n == 0]
        raise UsageError(
            f"--ddp splits each training batch evenly over the ranks, but {whose} batch of "
            f"{batch_size} images does not divide over {world_size} ranks. Launch a number "
            f"of ranks that divides {batch_size} ({', '.join(map(str, fits))}), or leave "
            "out --ddp: the ranks then take whole classifiers."
        )
    return batch_size // world_size


class DataParallelRule(TypedDict):
    """The ``--ddp`` rule a task trains by, as ``run.json`` records it."""

    world_size: int
    global_batch: int
    per_rank_batch: int
    lr: float
    rule: str
    batchnorm: str


def rule(batch_size: int, lr: float, world_size: int, preset: str = "") -> DataParallelRule:
    """The ``--ddp`` batch and learning-rate rule for ``world_size`` ranks, as recorded
    in ``run.json`` (an error when the batch does not split evenly)."""
    return {
        "world_size": world_size,
        "global_batch": batch_size,
        "per_rank_batch": split_batch(batch_size, world_size, preset),
        "lr": lr,
        "rule": "the preset's batch is the global batch, split evenly over the ranks; "
        "the learning rate is the preset's",
        "batchnorm": "SyncBatchNorm",
    }


# ------------------------------------------------------------------- SyncBatchNorm


class _AllReduceSum(torch.autograd.Function):
    """The sum of a tensor over every rank, differentiable: the gradient of each rank's
    input is the sum of every rank's output gradient (what torch's SyncBatchNorm's
    backward all-reduces)."""

    @staticmethod
    def forward(ctx: Any, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        out = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        summed: torch.Tensor = _AllReduceSum.apply(grad)
        return summed


def _sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    summed: torch.Tensor = _AllReduceSum.apply(tensor)
    return summed


class CpuSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """SyncBatchNorm for the CPU (a gloo group), where PyTorch has none: while
    training, the mean and the biased variance that normalise are those of the global
    batch (every rank's share of it), from two differentiable all-reduces of
    per-channel sums, so the backward pass is the global batch's too; the running
    statistics take the unbiased variance over the global count. That is BatchNorm on
    the global batch in one process. In eval mode, or without a group of several
    ranks, it is BatchNorm. Any input of shape (N, C, ...) (BatchNorm1d/2d/3d)."""

    #: The BatchNorm class this layer replaced (:func:`revert_sync_batchnorm`).
    plain_class: type[nn.Module] = nn.BatchNorm2d

    def _check_input_dim(self, input: torch.Tensor) -> None:
        if input.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {input.dim()}D input)")

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        if not (self.training and process_group_size() > 1):
            return super().forward(input)
        self._check_input_dim(input)
        channels = input.shape[1]
        dims = [0, *range(2, input.dim())]
        shape = [1, channels] + [1] * (input.dim() - 2)
        local = input.new_tensor([float(input.numel() // max(channels, 1))])
        sums = _sum_over_ranks(torch.cat([input.sum(dims), local]))
        count = sums[-1]
        mean = sums[:channels] / count
        centred = input - mean.view(shape)
        var = _sum_over_ranks((centred * centred).sum(dims)) / count
        n = round(float(count.detach()))
        if n <= 1:
            raise ValueError(
                "Expected more than 1 value per channel when training, got input size "
                f"{list(input.shape)} on each of {process_group_size()} ranks"
            )
        if self.track_running_stats and self.num_batches_tracked is not None:
            assert self.running_mean is not None and self.running_var is not None
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                factor = (
                    1.0 / float(self.num_batches_tracked)
                    if self.momentum is None
                    else self.momentum
                )
                self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                self.running_var.mul_(1 - factor).add_(var.detach() * (n / (n - 1)), alpha=factor)
        out = centred * torch.rsqrt(var + self.eps).view(shape)
        if self.affine:
            out = out * self.weight.view(shape) + self.bias.view(shape)
        return out


def _plain_batchnorms(model: nn.Module) -> dict[str, type[nn.Module]]:
    return {
        name: type(m)
        for name, m in model.named_modules()
        if isinstance(m, nn.modules.batchnorm._BatchNorm)
        and not isinstance(m, nn.SyncBatchNorm | CpuSyncBatchNorm)
    }


def convert_sync_batchnorm(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Replace ``model``'s BatchNorm layers by synchronised ones, in place below the top
    module, sharing their parameters and buffers: PyTorch's
    :meth:`torch.nn.SyncBatchNorm.convert_sync_batchnorm` for a model on CUDA,
    :class:`CpuSyncBatchNorm` on the CPU (PyTorch's runs on GPUs only, and DDP refuses
    it on the CPU). Each remembers the class it replaced, for
    :func:`revert_sync_batchnorm`."""
    plain = _plain_batchnorms(model)
    if torch.device(device).type == "cuda":
        converted = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        for name, module in converted.named_modules():
            if name in plain:
                module.plain_class = plain[name]  # type: ignore[assignment]
        return converted
    return _to_cpu_sync(model, plain, "")


def _to_cpu_sync(module: nn.Module, plain: dict[str, type[nn.Module]], name: str) -> nn.Module:
    out = module
    if name in plain:
        assert isinstance(module, nn.modules.batchnorm._BatchNorm)
        out = _rebuilt(module, CpuSyncBatchNorm)
        out.plain_class = plain[name]
    for child_name, child in module.named_children():
        out.add_module(child_name, _to_cpu_sync(child, plain, f"{name}.{child_name}".lstrip(".")))
    return out


def _rebuilt(module: nn.Module, cls: type[nn.Module]) -> nn.Module:
    """A ``cls`` BatchNorm with ``module``'s settings, parameters and buffers."""
    out = cls(  # type: ignore[call-arg]
        module.num_features,
        module.eps,
        module.momentum,
        module.affine,
        module.track_running_stats,
    )
    _share_state(module, out)
    return out


def _share_state(source: nn.Module, target: nn.Module) -> None:
    """``target`` takes ``source``'s parameters and buffers (the same tensors)."""
    if getattr(source, "affine", False):
        target.weight = source.weight
        target.bias = source.bias
    target.running_mean = source.running_mean
    target.running_var = source.running_var
    target.num_batches_tracked = source.num_batches_tracked
    target.train(source.training)


def revert_sync_batchnorm(module: nn.Module) -> nn.Module:
    """The inverse of :func:`convert_sync_batchnorm`: the BatchNorm layers it replaced,
    with the same parameters and buffers (in place below the top module), so the
    trained model is the task's architecture again (``model.pt``, the ONNX export)."""
    out = module
    cls = getattr(module, "plain_class", None)
    if isinstance(module, nn.SyncBatchNorm | CpuSyncBatchNorm) and cls is not None:
        out = _rebuilt(module, cls)
    for name, child in module.named_children():
        out.add_module(name, revert_sync_batchnorm(child))
    return out


# ------------------------------------------------------------------------ training


@dataclass
class DataParallel:
    """One rank's part in a data-parallel training (see the module's docstring)."""

    rank: int
    world_size: int
    global_batch: int
    per_rank_batch: int
    model: nn.Module  # the task's model, its BatchNorm layers synchronised
    wrapped: nn.Module  # the DistributedDataParallel wrapper that trains it
    sampler: torch.utils.data.DistributedSampler[int]
    #: What this rank processed in each epoch this invocation trained.
    epochs: list[dict[str, int]] = field(default_factory=list)

    def barrier(self) -> None:
        dist.barrier()

    def sum_over_ranks(self, values: list[float], device: torch.device) -> list[float]:
        """Element-wise sums of ``values`` over every rank."""
        t = torch.tensor(values, dtype=torch.float64, device=device)
        dist.all_reduce(t)
        return [float(v) for v in t.tolist()]

    def record(self, train_items: int) -> RankRecord:
        """What this rank did, for the run's per-rank records."""
        return {
            "rank": self.rank,
            "world_size": self.world_size,
            "global_batch": self.global_batch,
            "per_rank_batch": self.per_rank_batch,
            "train_items": train_items,
            "epoch_samples": len(self.sampler) * self.world_size,
            "epochs": self.epochs,
            "samples": sum(e["samples"] for e in self.epochs),
            "steps": sum(e["steps"] for e in self.epochs),
        }


class RankRecord(TypedDict):
    """What one rank did in a data-parallel training (:meth:`DataParallel.record`)."""

    rank: int
    world_size: int
    global_batch: int
    per_rank_batch: int
    train_items: int
    epoch_samples: int
    epochs: list[dict[str, int]]
    samples: int
    steps: int


def prepare(
    model: nn.Module,
    dataset: torch.utils.data.Dataset[Any],
    batch_size: int,
    seed: int,
    device: torch.device,
    preset: str = "",
) -> DataParallel:
    """Set up ``model`` (on ``device``) for data-parallel training over the initialised
    default process group: SyncBatchNorm, DDP, and this rank's sampler of ``dataset``.
    The model keeps its identity (its BatchNorm children are replaced in place);
    :func:`revert_sync_batchnorm` restores them."""
    from torch.nn.parallel import DistributedDataParallel
    from torch.utils.data import DistributedSampler

    world_size, me = int(dist.get_world_size()), int(dist.get_rank())
    per_rank = split_batch(batch_size, world_size, preset)
    if convert_sync_batchnorm(model, device) is not model:
        raise ValueError("a model that is itself a BatchNorm layer cannot be converted in place")
    wrapped = DistributedDataParallel(
        model, device_ids=[device.index or 0] if device.type == "cuda" else None
    )
    # Epoch e's order comes from seed * 1000 + e, as the one-process loader's generator
    # (so two seeds do not share epochs' orders); padded, never dropped.
    sampler: DistributedSampler[Any] = DistributedSampler(
        dataset, num_replicas=world_size, rank=me, shuffle=True, seed=seed * 1000, drop_last=False
    )
    return DataParallel(me, world_size, batch_size, per_rank, model, wrapped, sampler)
