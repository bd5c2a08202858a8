"""How classifiers train on a device: deterministic, or at the hardware's speed.

``--deterministic`` (the default on the CPU) keeps PyTorch's deterministic kernels,
fp32, cuDNN without autotuning and fresh DataLoader workers each epoch: on the CPU the
same ``--seed`` gives bit-identical classifiers. ``--no-deterministic`` (the default on
CUDA) trains with bf16 autocast (where the GPU has bf16), channels_last tensors,
``cudnn.benchmark`` and persistent, prefetching DataLoader workers. ONNX export and
the parity check always run in fp32, whatever the mode.

:func:`training_mode` decides; the training loop
(:mod:`jpegai_eval.tasks.training`) applies the record, and ``run.json`` reports it
(:func:`jpegai_eval.framework.run.runfolder.determinism`). It needs no torch, so the rule
is testable without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypedDict

#: DataLoader batches each worker keeps ready in the fast mode (PyTorch's default is 2).
FAST_PREFETCH_FACTOR = 4


@dataclass(frozen=True)
class TrainingMode:
    """What a classifier's training does on its device."""

    device: str
    #: Deterministic kernels, fp32, no cuDNN autotuning, fresh workers each epoch.
    deterministic: bool
    #: The autocast dtype of forward and loss (``"bfloat16"``), or None: fp32.
    autocast: str | None
    channels_last: bool
    cudnn_benchmark: bool
    #: DataLoader workers kept alive across epochs (the epoch reaches them with each
    #: index), and how many batches each prefetches (None: PyTorch's default).
    persistent_workers: bool
    prefetch_factor: int | None

    def as_dict(self) -> TrainingModeJson:
        return TrainingModeJson(
            device=self.device,
            deterministic=self.deterministic,
            autocast=self.autocast,
            channels_last=self.channels_last,
            cudnn_benchmark=self.cudnn_benchmark,
            persistent_workers=self.persistent_workers,
            prefetch_factor=self.prefetch_factor,
        )


class TrainingModeJson(TypedDict):
    """:class:`TrainingMode` as recorded in ``run.json`` and a classifier's ``meta.json``."""

    device: str
    deterministic: bool
    autocast: str | None
    channels_last: bool
    cudnn_benchmark: bool
    persistent_workers: bool
    prefetch_factor: int | None


def default_deterministic(device: str) -> bool:
    """On for the CPU (where it costs little), off for CUDA."""
    return not str(device).startswith("cuda")


def training_mode(
    device: str, deterministic: bool | None = None, bf16_supported: bool = True
) -> TrainingMode:
    """The training mode for ``device`` (``cpu``, ``cuda``, ``cuda:N``) and the user's
    ``--deterministic`` choice (None: :func:`default_deterministic`). On CUDA the fast
    mode autocasts to bf16 when ``bf16_supported`` (pre-Ampere GPUs: fp32)."""
    device = str(device)
    if deterministic is None:
        deterministic = default_deterministic(device)
    cuda = device.startswith("cuda")
    if deterministic:
        return TrainingMode(device, True, None, False, False, False, None)
    return TrainingMode(
        device,
        False,
        "bfloat16" if cuda and bf16_supported else None,
        channels_last=cuda,
        cudnn_benchmark=cuda,
        persistent_workers=True,
        prefetch_factor=FAST_PREFETCH_FACTOR,
    )
