"""The run's vocabulary: what a run folder holds and how its parts are named.

Shared by the evaluator (which orchestrates), :mod:`~jpegai_eval.framework.run.classify`
and :mod:`~jpegai_eval.framework.run.results`, so none of them imports another for a name:

- :class:`CellId` -- one row of ``results.csv`` (an anchor, and a codec x quality);
- :func:`classifier_name` -- the folder of the classifier a cell uses;
- :func:`item_path` -- where a sample's input for a domain lives (original, decoded
  PNG, latents ``.npz``);
- :func:`log` and :func:`write_json` -- the run's log line and atomic JSON write;
- :func:`resolve_device` -- the one place ``--device auto|cpu|cuda`` is interpreted;
- :func:`determinism` -- what ``--seed`` guarantees on that device, for ``run.json``;
- :data:`ORIGINALS_DIR` -- where a few test originals are copied for the reports.

What reports read, they read from the run folder only: ``per_image.csv`` records per
test image its ``source`` file, its ``original_copy`` (if copied) and, per codec x
quality, its cache entries (``bitstream``, ``decoded``, ``latents``), relative to the
run folder.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.image_io import atomic_write_bytes
from jpegai_eval.framework.run.distributed import world
from jpegai_eval.framework.run.run_json import DeterminismJson

if TYPE_CHECKING:
    from jpegai_eval.framework.api.types import Anchor, Codec, ImageSource, Sample
    from jpegai_eval.framework.run.plan import Plan
    from jpegai_eval.framework.run.records import Encoded

SPLITS = ("train", "test")

#: Test images whose originals are copied into the run folder (the first of each of
#: this many classes), so that reports need only the run folder.
ORIGINAL_COPIES = 8
ORIGINALS_DIR = "originals"


@dataclass(frozen=True)
class ClassifierFolder:
    """``classifiers/<name>/``: one classifier's files. The task's own training
    checkpoints live beside them (the task names those)."""

    root: Path

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def model_pt(self) -> Path:
        return self.root / "model.pt"

    @property
    def model_onnx(self) -> Path:
        return self.root / "model.onnx"

    @property
    def meta_json(self) -> Path:
        """Written last: the classifier is finished when it exists."""
        return self.root / "meta.json"

    @property
    def key_json(self) -> Path:
        """What the classifier is trained on (written before training)."""
        return self.root / "key.json"


@dataclass(frozen=True)
class RunFolder:
    """The one owner of a run folder's layout (``--out``): every path the tool writes
    under it is named here, and only here.

    - ``run.json`` (the run record), ``run.log`` (``run.rankN.log`` for rank N > 0),
      the lock ``.lock``;
    - ``results.csv``, ``per_image.csv`` and ``report-outputs.json`` (what each report
      writer wrote last), the report writers' own files;
    - ``cache/`` (the encode cache), ``cells/<cell>.json`` (a finished cell),
      ``classifiers/<name>/`` (:class:`ClassifierFolder`) and ``originals/``.
    """

    root: Path

    RUN_JSON = "run.json"
    RESULTS_CSV = "results.csv"
    PER_IMAGE_CSV = "per_image.csv"
    REPORT_OUTPUTS = "report-outputs.json"
    CACHE = "cache"
    CELLS = "cells"
    CLASSIFIERS = "classifiers"
    ORIGINALS = ORIGINALS_DIR
    #: The folders where the tool writes (and so may leave temporaries).
    WRITTEN_FOLDERS = (CACHE, CELLS, CLASSIFIERS, ORIGINALS)

    @property
    def run_json(self) -> Path:
        return self.root / self.RUN_JSON

    @property
    def results_csv(self) -> Path:
        return self.root / self.RESULTS_CSV

    @property
    def per_image_csv(self) -> Path:
        return self.root / self.PER_IMAGE_CSV

    @property
    def report_outputs(self) -> Path:
        return self.root / self.REPORT_OUTPUTS

    @property
    def cache(self) -> Path:
        return self.root / self.CACHE

    @property
    def cells(self) -> Path:
        return self.root / self.CELLS

    def cell_json(self, name: str) -> Path:
        return self.root / self.CELLS / f"{name}.json"

    @property
    def classifiers(self) -> Path:
        return self.root / self.CLASSIFIERS

    def classifier(self, name: str) -> ClassifierFolder:
        return ClassifierFolder(self.root / self.CLASSIFIERS / name)

    @property
    def originals(self) -> Path:
        return self.root / ORIGINALS_DIR

    @property
    def log_file(self) -> Path:
        return self.root / log_name()


def log_name() -> str:
    """``run.log``; rank N > 0 of a distributed run logs to ``run.rankN.log`` (ranks
    never write the same file)."""
    rank = world().rank
    return "run.log" if rank == 0 else f"run.rank{rank}.log"


def log(message: str, out_dir: Path | None = None) -> None:
    """One line to the terminal (above any progress bar) and to ``run.log``."""
    from tqdm import tqdm

    w = world()
    tqdm.write(f"[rank {w.rank}] {message}" if w.distributed else message, file=sys.stderr)
    if out_dir is not None and out_dir.is_dir():
        with open(out_dir / log_name(), "a") as fh:
            fh.write(f"{dt.datetime.now().isoformat(timespec='seconds')} {message}\n")


def write_json(path: str | Path, data: Any, sort_keys: bool = True) -> Path:
    """Write ``data`` as indented JSON (keys sorted unless told), atomically; return the
    path."""
    path = Path(path)
    text = json.dumps(data, indent=2, sort_keys=sort_keys, default=str)
    atomic_write_bytes(path, text.encode())
    return path


def resolve_device(device: str | None = "auto") -> str:
    """``auto``: CUDA when PyTorch sees a GPU, else the CPU. ``cuda`` without a GPU is a
    :class:`UserError`; ``cuda:N`` and ``cpu`` are taken as given."""
    if device is None or device == "auto":
        import torch

        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cpu":
        return "cpu"
    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise UserError(
                f"--device {device} was asked for, but PyTorch sees no CUDA GPU. Use "
                "--device auto or cpu, or check the driver (nvidia-smi)."
            )
        return device
    raise UserError(f"Unknown device {device!r}; use auto, cpu, cuda or cuda:N.")


@dataclass(frozen=True)
class CellId:
    """One row of results.csv: an anchor, and a codec x quality unless per-task."""

    anchor: Anchor
    codec: Codec | None
    quality: int | None

    @property
    def name(self) -> str:
        return cell_name(self.anchor.id, self.codec, self.quality)


def point_name(codec: Codec, quality: int) -> str:
    """A codec x quality (or rate) point: ``id-backend-point``, as cell and classifier
    names and run.json's ``encode`` spell it."""
    return f"{codec.id}-{codec.backend}-{codec.point_label(quality)}"


def cell_name(anchor_id: str, codec: Codec | None, quality: int | None) -> str:
    """The name of a cell (its ``cells/NAME.json`` and its key in predictions)."""
    if codec is None:
        return anchor_id
    assert quality is not None
    return f"{anchor_id}-{point_name(codec, quality)}"


def classifier_name(anchor: Anchor, codec: Codec | None, quality: int | None, plan: Plan) -> str:
    """Anchors that train on the same data share one classifier."""
    trainer = plan.trainers[anchor.id]
    if trainer.train_on == "original":
        return f"{trainer.domain}-original"
    assert codec is not None
    assert quality is not None
    return f"{trainer.domain}-{trainer.train_on}-{point_name(codec, quality)}"


def item_path(
    data: ImageSource,
    sample: Sample,
    codec: Codec | None,
    quality: int | None,
    encoded: Encoded,
) -> Path:
    """Where the input for ``sample`` lives: original, decoded PNG or latents .npz."""
    if data == "original":
        return sample.path
    assert codec is not None and quality is not None
    return encoded.entry_path(codec, quality, sample, "png" if data == "decoded" else "npz")


def determinism(device: str, deterministic: bool | None = None) -> DeterminismJson:
    """What ``--seed`` guarantees for the classifiers trained on ``device`` with
    ``--deterministic`` or not (None: the device's default), for ``run.json``."""
    import torch

    from jpegai_eval.framework.run.training_mode import training_mode

    mode = training_mode(str(device), deterministic)
    report = DeterminismJson(
        seeded="classifier initialisation, shuffling and each item's augmentation",
        deterministic_algorithms=mode.deterministic,
        torch_threads=torch.get_num_threads(),
        # bf16 needs an Ampere or newer GPU: the trainings' meta.json say what ran.
        training_mode=mode.as_dict(),
    )
    if not mode.deterministic:
        report["guarantee"] = (
            f"none{' on CUDA' if str(device).startswith('cuda') else ''}: trained with "
            "--no-deterministic (bf16 autocast, channels_last and cudnn.benchmark on CUDA; "
            "persistent DataLoader workers), so the same --seed gives close but not "
            "identical classifiers; rerun with --deterministic (fp32, deterministic "
            "kernels) for reproducible ones"
        )
    elif str(device).startswith("cuda"):
        report["guarantee"] = (
            "none on CUDA: some CUDA kernels (e.g. the backward of adaptive pooling, "
            "scatter-add, cuBLAS without CUBLAS_WORKSPACE_CONFIG=:4096:8) have no "
            "deterministic implementation, and PyTorch warns when one runs; train with "
            "--device cpu for bit-identical classifiers"
        )
    else:
        report["guarantee"] = (
            "bit-identical classifier weights and accuracies for the same --seed on the "
            "CPU, given the same library versions and torch_threads"
        )
    return report
