"""Train, export and evaluate the classifiers of every cell of the matrix.

Anchors that train on the same data share a classifier (anchor 1 uses anchor 3's).
Each classifier lives in ``<out>/classifiers/<name>/``: the task's training
checkpoints (resumable), ``model.pt`` and ``model.onnx``, and ``meta.json`` (written
last), and ``key.json``: what it was trained on (written before training). Each
finished cell leaves ``<out>/cells/<cell>.json`` with its row, predictions and key, so
a rerun skips it -- unless the key differs from what the run computes now (the dataset,
the codec's weights or the configuration changed): then the classifier is retrained or
the cell re-evaluated, and the log says why (:mod:`~jpegai_eval.framework.run.freshness`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.json_types import Scalar
from jpegai_eval.framework.io.progress import progress
from jpegai_eval.framework.run import distributed
from jpegai_eval.framework.run.freshness import cell_key, classifier_key, stale_reason
from jpegai_eval.framework.run.onnx_runtime import PARITY_TOLERANCE, export, open_session, parity
from jpegai_eval.framework.run.records import CellResult, Key, ResultRow
from jpegai_eval.framework.run.runfolder import (
    ClassifierFolder,
    RunFolder,
    classifier_name,
    item_path,
    log,
    write_json,
)
from jpegai_eval.framework.run.scoring import mean, topk_from_logits

if TYPE_CHECKING:
    from jpegai_eval.framework.api.types import Domain, ImageSource, Sample
    from jpegai_eval.framework.run.plan import Plan
    from jpegai_eval.framework.run.records import Encoded, EncodedEntry
    from jpegai_eval.framework.run.runfolder import CellId

EVAL_BATCH = 32


def _load_json(path: Path) -> Mapping[str, object] | None:
    """The JSON object in ``path`` as read; None when missing, unreadable or no object."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


class TrainingRecord(TypedDict):
    """How a classifier was made: the first keys of its ``meta.json`` (the task's
    description of the model, :meth:`Task.classifier_info`, follows)."""

    name: str
    domain: str
    train_on: str
    n_train: int
    preset: str
    train_s: float
    init: str
    #: the task's own records (its loss curve, its training mode), as JSON
    history: object
    training_mode: object
    #: the compressed domain it read (:meth:`LatentSpec.to_json`); latent classifiers only
    latent_spec: NotRequired[dict[str, object]]


#: A classifier's ``meta.json``: its :class:`TrainingRecord`, the task's description of
#: the model (open-ended: ``params``, ``macs`` and what else the task says) and, under
#: ``--ddp``, the data-parallel rule and the model's digest.
ClassifierMeta = Mapping[str, object]


def _items(
    data: ImageSource, samples: list[Sample], cell: CellId, encoded: Encoded
) -> list[tuple[Path, int]]:

    return [(item_path(data, s, cell.codec, cell.quality, encoded), s.label) for s in samples]


def latent_spec_of(cell: CellId, encoded: Encoded) -> Any:
    """The latent description of the weights this cell's codec really loaded."""
    if cell.codec is None or cell.quality is None:
        return None
    return encoded.cells[(cell.codec.key, cell.quality)].latent_spec


def damaged(path: Path, why: str, folder: Path) -> UserError:
    """The error for a damaged file of a finished step in a run folder."""
    return UserError(
        f"{str(path)!r} in the run folder is damaged ({why}). Delete {str(folder)!r} and "
        "rerun the same command: the run redoes that step (and keeps everything else)."
    )


def load_classifier(model: Any, folder: ClassifierFolder) -> None:
    """Load the folder's ``model.pt`` (plain tensors only) into ``model``."""

    from jpegai_eval.framework.errors import describe_load_error
    from jpegai_eval.framework.io.safeload import load_plain

    path = folder.model_pt
    try:
        state = load_plain(path)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or mismatched file
        raise damaged(path, describe_load_error(exc), folder.root) from None


def open_classifier_session(folder: ClassifierFolder, device: str) -> Any:
    """An ONNX Runtime session on the folder's ``model.onnx``; a damaged file is a
    UserError."""
    path = folder.model_onnx
    try:
        return open_session(path, device)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise damaged(path, f"ONNX Runtime cannot load it: {first}", folder.root) from None


def is_trained(folder: ClassifierFolder) -> bool:
    """Whether ``folder`` holds a finished classifier: ``meta.json`` (written last), its
    weights and its ONNX export."""
    return folder.meta_json.is_file() and folder.model_pt.is_file() and folder.model_onnx.is_file()


def state_digest(state: Mapping[str, Any]) -> str:
    """The SHA-256 of a state dict's names, dtypes, shapes and values (for checking
    that every rank of a data-parallel training holds the same model)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def drop_training_state(folder: ClassifierFolder) -> None:
    """Once ``meta.json`` and ``model.pt`` exist, the task's training checkpoints (every
    other ``*.pt``, e.g. a 190 MB ``checkpoint.pt`` for ResNet-50) are not needed."""
    if folder.meta_json.is_file() and folder.model_pt.is_file():
        for path in folder.root.glob("*.pt"):
            if path != folder.model_pt:
                path.unlink(missing_ok=True)


@dataclass(frozen=True)
class ReadyClassifier:
    """A trained classifier, ready to evaluate: the PyTorch model (for the parity
    check), its ONNX Runtime session and its ``meta.json`` (how it was made)."""

    name: str
    model: Any
    session: Any
    meta: ClassifierMeta


class Classifiers:
    """Trains each classifier once and hands out (model, ONNX session, metadata)."""

    def __init__(
        self,
        plan: Plan,
        samples: dict[str, list[Sample]],
        encoded: Encoded,
        out_dir: Path,
        device: str,
    ) -> None:
        self.plan = plan
        self.samples = samples
        self.encoded = encoded
        self.folder = RunFolder(out_dir)
        self.device = device
        self._ready: dict[str, ReadyClassifier] = {}

    def key(self, cell: CellId) -> Key:
        """What the classifier of ``cell`` is (to be) trained from."""
        spec = latent_spec_of(cell, self.encoded) if cell.anchor.domain == "latent" else None
        return classifier_key(self.plan, cell, self.samples["train"], self.encoded, spec)

    def clear_if_stale(self, name: str, folder: ClassifierFolder, key: Key) -> None:
        """Delete a classifier folder's files when they were trained from other data or
        settings than ``key`` (the log says which)."""
        files = [p for p in folder.root.iterdir() if p.is_file()]
        reason = stale_reason(Key.from_json(_load_json(folder.key_json)), key, "training")
        if not files or reason is None:
            return
        log(f"classifier {name}: retraining it: {reason}", self.folder.root)
        for path in files:
            path.unlink()

    def get(self, cell: CellId) -> ReadyClassifier:

        name = classifier_name(cell.anchor, cell.codec, cell.quality, self.plan)
        if name in self._ready:
            return self._ready[name]
        import torch

        task, config = self.plan.task, self.plan.config
        folder = self.folder.classifier(name)
        folder.root.mkdir(parents=True, exist_ok=True)
        domain = cell.anchor.domain
        spec = latent_spec_of(cell, self.encoded) if domain == "latent" else None
        key = self.key(cell)
        self.clear_if_stale(name, folder, key)
        meta = _load_json(folder.meta_json)
        torch.manual_seed(config.seed)  # the same --seed, the same initial weights
        model = task.classifier_for(domain, spec, config.preset)
        if meta is not None and is_trained(folder):
            load_classifier(model, folder)
            drop_training_state(folder)
            log(f"classifier {name}: reused", self.folder.root)
        else:
            model, meta, _ = self.train(cell, name, folder, model, key)
        model.eval()
        session = open_classifier_session(folder, config.device)
        self._ready[name] = ReadyClassifier(name, model, session, meta)
        return self._ready[name]

    def train(
        self,
        cell: CellId,
        name: str,
        folder: ClassifierFolder,
        model: Any,
        key: Key,
        data_parallel: Mapping[str, object] | None = None,
    ) -> tuple[Any, ClassifierMeta, Any]:
        """Train ``model`` (freshly built) for ``cell`` into ``folder``; write
        ``model.pt``, ``model.onnx`` and ``meta.json``. Return the model (on the CPU,
        in eval mode), its metadata and what the task's ``train`` returned.

        With ``data_parallel`` (``--ddp``, the task's rule) every rank calls this
        together and the task trains with ``ddp=True``; rank 0 alone writes the files
        while the others wait (and stop with its error if it fails)."""
        task, config = self.plan.task, self.plan.config
        domain = cell.anchor.domain
        spec = latent_spec_of(cell, self.encoded) if domain == "latent" else None
        source = self.plan.trainers[cell.anchor.id].train_on
        items = _items(source, self.samples["train"], cell, self.encoded)
        init = task.init_for(model, self.plan.init_weights, domain)
        log(
            f"classifier {name}: training on {len(items)} "
            f"{'latents' if domain == 'latent' else f'{source} images'} ({config.preset} preset"
            f"{', data parallel over every rank' if data_parallel else ''})",
            self.folder.root,
        )
        if data_parallel:
            distributed.on_main(lambda: write_json(folder.key_json, key.to_json()))
        else:
            write_json(folder.key_json, key.to_json())
        t0 = time.time()
        trained = task.train_for(
            model,
            items,
            preset=config.preset,
            domain=domain,
            out_dir=folder.root,
            device=self.device,
            workers=config.workers,
            seed=config.seed,
            ddp=bool(data_parallel),
            deterministic=config.deterministic,
            latent_spec=spec,
        )
        train_s = time.time() - t0
        model = model.to("cpu").eval()

        made = TrainingRecord(
            name=name,
            domain=domain,
            train_on=source,
            n_train=len(items),
            preset=config.preset,
            train_s=round(train_s, 1),
            init=getattr(init, "summary", lambda: str(init))(),
            history=getattr(trained, "history", None),
            training_mode=getattr(trained, "training_mode", None),
        )
        if spec is not None:  # the compressed domain it saw (its size: latent_input)
            made["latent_spec"] = spec.to_json()

        def save() -> ClassifierMeta:
            return self.save(cell, folder, model, made, data_parallel)

        if not data_parallel:
            return model, save(), trained
        meta = distributed.on_main(save)
        if meta is None:  # the other ranks read what rank 0 wrote
            meta = _load_json(folder.meta_json) or {}
        return model, meta, trained

    def save(
        self,
        cell: CellId,
        folder: ClassifierFolder,
        model: Any,
        made: TrainingRecord,
        data_parallel: Mapping[str, object] | None,
    ) -> ClassifierMeta:
        """Write a trained classifier: ``model.pt``, its ONNX export and, last,
        ``meta.json`` (how it was made, ``made``, with the task's description of the
        model); drop the training checkpoints. Return the metadata."""
        import torch

        from jpegai_eval.framework.io.image_io import atomic_output

        domain = cell.anchor.domain
        spec = latent_spec_of(cell, self.encoded) if domain == "latent" else None
        with atomic_output(folder.model_pt) as tmp:
            torch.save(model.state_dict(), tmp)
        example = self.example_batch(domain, cell)
        export(model, (torch.from_numpy(example),), ["input"], folder.model_onnx)
        info = self.plan.task.classifier_info(model, domain, spec, self.plan.config.preset)
        meta: dict[str, object] = {**made, **info}
        if data_parallel:
            meta["data_parallel"] = data_parallel
            meta["model_sha256"] = state_digest(model.state_dict())
        write_json(folder.meta_json, meta)
        drop_training_state(folder)
        return meta

    def example_batch(self, domain: Domain, cell: CellId) -> Any:
        data: ImageSource = "latents" if domain == "latent" else "original"
        items = _items(
            data, self.samples["test"][:2] or self.samples["train"][:2], cell, self.encoded
        )
        spec = latent_spec_of(cell, self.encoded) if domain == "latent" else None
        return self.plan.task.eval_batch_for(
            [p for p, _ in items], domain, self.plan.config.preset, spec
        )


def train_together(
    plan: Plan,
    cells: list[CellId],
    samples: dict[str, list[Sample]],
    encoded: Encoded,
    out_dir: Path,
    device: str,
) -> dict[str, Mapping[str, object]]:
    """``--ddp``: every rank trains each classifier of ``cells`` not trained yet, one
    after the other, all together (the task's ``train(..., ddp=True)``); rank 0 writes
    the files. Return, per classifier trained, this rank's part (the task's record: the
    images and steps it processed) and the digest of the model it ended with."""
    import torch

    classifiers = Classifiers(plan, samples, encoded, out_dir, device)
    done: dict[str, Mapping[str, object]] = {}
    seen: set[str] = set()
    for cell in cells:
        name = classifier_name(cell.anchor, cell.codec, cell.quality, plan)
        if name in seen:
            continue
        seen.add(name)
        folder = classifiers.folder.classifier(name)
        key = classifiers.key(cell)

        def check(name: str = name, folder: ClassifierFolder = folder, key: Key = key) -> bool:
            folder.root.mkdir(parents=True, exist_ok=True)
            classifiers.clear_if_stale(name, folder, key)
            return is_trained(folder)

        # Rank 0 alone looks (and deletes a stale classifier); every rank follows it.
        if distributed.all_gather_json(distributed.on_main(check))[0]:
            continue
        domain = cell.anchor.domain
        spec = latent_spec_of(cell, encoded) if domain == "latent" else None
        torch.manual_seed(plan.config.seed)  # the same --seed, the same initial weights
        model = plan.task.classifier_for(domain, spec, plan.config.preset)
        model, _, trained = classifiers.train(
            cell, name, folder, model, key, data_parallel=plan.data_parallel
        )
        done[name] = {
            **(getattr(trained, "data_parallel", None) or {}),
            "model_sha256": state_digest(model.state_dict()),
        }
    return done


def evaluate_cell(cell: CellId, classifiers: Classifiers) -> CellResult:
    """Top-1/Top-5 of one cell on the test split, through ONNX Runtime."""
    import numpy as np

    plan = classifiers.plan
    ready = classifiers.get(cell)
    model, session, meta = ready.model, ready.session, ready.meta
    domain = cell.anchor.domain
    test = classifiers.samples["test"]
    items = _items(cell.anchor.eval_on, test, cell, classifiers.encoded)
    if not items:
        raise UserError("The test split is empty: nothing to evaluate.")
    logits = []
    infer_s = 0.0
    diff = 0.0
    size = getattr(session, "batch_size", EVAL_BATCH)  # larger on the CUDA provider
    spec = latent_spec_of(cell, classifiers.encoded) if domain == "latent" else None
    for start in range(0, len(items), size):
        batch = plan.task.eval_batch_for(
            [p for p, _ in items[start : start + size]], domain, plan.config.preset, spec
        )
        if start == 0:  # parity with PyTorch on the first batch, before trusting ONNX
            folder = classifiers.folder.classifier(ready.name)
            try:
                diff = parity(model, session, (batch[:EVAL_BATCH],))
            except Exception as exc:  # noqa: BLE001 - e.g. an ONNX graph of another input
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise onnx_mismatch(folder, f"it does not run on this input: {first}") from None
            if diff > PARITY_TOLERANCE:
                why = f"max logit difference {diff:.2e} > {PARITY_TOLERANCE:.0e}"
                if _all_alike(batch[:EVAL_BATCH]):
                    raise degenerate_inputs(folder, why, cell)
                raise onnx_mismatch(folder, why)
        t0 = time.perf_counter()
        logits.append(session(batch))
        infer_s += time.perf_counter() - t0
    scored = topk_from_logits(np.concatenate(logits), [label for _, label in items])
    predictions = {s.id: p["pred"] for s, p in zip(test, scored.predictions, strict=True)}
    test_columns = codec_columns(cell, classifiers.encoded, test)
    row = {
        **test_columns,
        "anchor": cell.anchor.id,
        "domain": domain,
        "top1": scored.top1,
        "top5": scored.top5,
        "n_test": len(items),
        "classifier": ready.name,
        "params": meta.get("params"),
        "macs": meta.get("macs"),
        "provider": session.provider,
        "infer_ms_per_image": 1000 * infer_s / len(items),
        "onnx_max_abs_diff": diff,
        "init": meta.get("init"),
    }
    return CellResult(ResultRow.from_json(row), predictions)


def _all_alike(batch: Any) -> bool:
    """Whether every input of ``batch`` (an array or CPU tensor, images first) is about
    the same."""
    import numpy as np

    values = np.asarray(batch, dtype=np.float32)
    return len(values) > 1 and float(values.std(axis=0).max()) < 1e-4


def degenerate_inputs(folder: ClassifierFolder, why: str, cell: CellId) -> UserError:
    """The parity check failed on test inputs that are all alike: not a damaged file."""
    return UserError(
        f"The classifier {str(folder.root)!r} gives different logits under ONNX Runtime "
        f"and PyTorch ({why}) because its test inputs for {cell.name} are all (nearly) "
        "the same: every image's input is equal, which batch normalisation turns into "
        "noise. For the compressed domain this usually means the codec's weights are "
        "untrained (|y| < 0.5 everywhere, so every y_hat rounds to one value). Check the "
        "codec with `jpegai-eval codec latents` or the testing kit's check_codec, give "
        "trained --weights, and rerun."
    )


def onnx_mismatch(folder: ClassifierFolder, why: str) -> UserError:
    return UserError(
        f"{str(folder.model_onnx)!r} does not match {str(folder.model_pt)!r} "
        f"(ONNX Runtime and PyTorch disagree: {why}), so its accuracy cannot be trusted. "
        f"The ONNX file was replaced or damaged: delete the classifier folder "
        f"{str(folder.root)!r} and rerun the same command to retrain and export it again."
    )


def load_cell(path: Path) -> CellResult | None:
    """A finished cell's record, or None when there is none yet. A record without its
    row and predictions is a UserError naming the file."""
    if not path.exists():
        return None
    try:
        return CellResult.read(path)
    except (OSError, ValueError) as exc:
        why = f"not JSON: {exc}" if isinstance(exc, json.JSONDecodeError) else str(exc)
        raise damaged(path, why, path) from None


def fresh_cell(path: Path, key: Key, name: str, out_dir: Path) -> CellResult | None:
    """The finished cell at ``path`` if it was computed from ``key``; else None (and the
    log says why it is redone: stale, or a damaged record, which is only a result)."""
    try:
        done = load_cell(path)
    except UserError as exc:
        log(f"{name}: evaluating it again: {path.name} is damaged ({exc.message[:120]})", out_dir)
        return None
    if done is None:
        return None
    reason = stale_reason(done.key, key, "test")
    if reason is not None:
        log(f"{name}: evaluating it again: {reason}", out_dir)
        return None
    return done


def codec_columns(cell: CellId, encoded: Encoded, test: list[Sample]) -> dict[str, Scalar]:
    """A codec x quality cell's rate, fidelity and coding-time means over the test
    images it encoded."""
    if cell.codec is None or cell.quality is None:
        return {"codec": "original", "backend": "", "quality": None}
    entries = encoded.entries[(cell.codec.key, cell.quality)]
    es = [entries[s.id] for s in test if s.id in entries]

    def mean_of(column: str) -> float | None:
        return mean([e.number(column) for e in es])

    return {
        "codec": cell.codec.id,
        "backend": cell.codec.backend,
        "quality": cell.quality,
        "bpp": mean_of("bpp"),
        "psnr": mean_of("psnr"),
        "ms_ssim": mean_of("ms_ssim"),
        "ssim": mean_of("ssim"),
        "encode_ms_per_image": mean_of("encode_ms"),
        "decode_ms_per_image": mean_of("decode_ms"),
        "latents_ms_per_image": mean_of("latents_ms"),
        **rate_point_columns(cell.codec, cell.quality, es),
    }


def rate_point_columns(codec: Any, quality: int, es: list[EncodedEntry]) -> dict[str, Scalar]:
    """A target-rate cell's target and share of test images within ±10 % of it."""
    target_for = getattr(codec, "target_for", None)
    if target_for is None:
        return {}
    flags = [bool(e.value("within_tolerance")) for e in es]
    return {
        "target_bpp": target_for(quality),
        "bpp_within_10pct": sum(flags) / len(flags) if flags else None,
    }


def run_cells(
    plan: Plan,
    cells: list[CellId],
    samples: dict[str, list[Sample]],
    encoded: Encoded,
    out_dir: Path,
    device: str,
) -> tuple[list[ResultRow], dict[str, dict[str, int]], str]:
    """Evaluate every cell (skipping finished ones); rows, predictions, provider."""
    classifiers = Classifiers(plan, samples, encoded, out_dir, device)
    classifiers.folder.cells.mkdir(exist_ok=True)
    rows: list[ResultRow] = []
    predictions: dict[str, dict[str, int]] = {}
    providers: list[str] = []
    bar = progress(cells, desc="cells", unit="cell")
    for cell in bar:
        bar.set_postfix_str(cell.name)
        path = classifiers.folder.cell_json(cell.name)
        key = cell_key(cell, classifiers.key(cell), samples["test"], encoded)
        done = fresh_cell(path, key, cell.name, out_dir)
        if done is None:
            done = replace(evaluate_cell(cell, classifiers), key=key)
            write_json(path, done.to_json())
            row = done.row
            log(
                f"{cell.name}: top1 {100 * (row.top1 or 0.0):.2f}%  "
                f"top5 {100 * (row.top5 or 0.0):.2f}%  ({row.provider})",
                out_dir,
            )
        rows.append(done.row)
        predictions[cell.name] = dict(done.predictions)
        providers.append(str(done.row.provider))
    provider = ",".join(sorted(set(providers))) or "none"
    return rows, predictions, provider
