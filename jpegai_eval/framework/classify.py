"""Train, export and evaluate the classifiers of every cell of the matrix.

Anchors that train on the same data share a classifier (anchor 1 uses anchor 3's).
Each classifier lives in ``<out>/classifiers/<name>/``: the task's training
checkpoints (resumable), ``model.pt`` and ``model.onnx``, and ``meta.json`` (written
last), and ``key.json``: what it was trained on (written before training). Each
finished cell leaves ``<out>/cells/<cell>.json`` with its row, predictions and key, so
a rerun skips it -- unless the key differs from what the run computes now (the dataset,
the codec's weights or the configuration changed): then the classifier is retrained or
the cell re-evaluated, and the log says why (:mod:`~jpegai_eval.framework.freshness`).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework import distributed
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.freshness import cell_key, classifier_key, stale_reason
from jpegai_eval.framework.onnx_runtime import PARITY_TOLERANCE, export, open_session, parity
from jpegai_eval.framework.progress import progress
from jpegai_eval.framework.runfolder import classifier_name, item_path, log, write_json
from jpegai_eval.framework.scoring import mean, topk_from_logits

if TYPE_CHECKING:
    from jpegai_eval.framework.plan import Plan
    from jpegai_eval.framework.runfolder import CellId, Encoded
    from jpegai_eval.framework.types import Sample

EVAL_BATCH = 32
KEY_FILE = "key.json"


def _load_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return None


def _items(
    data: str, samples: list[Sample], cell: CellId, encoded: Encoded
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


def load_classifier(model: Any, folder: Path) -> None:
    """Load ``folder/model.pt`` (plain tensors only) into ``model``."""

    from jpegai_eval.framework.errors import describe_load_error
    from jpegai_eval.framework.safeload import load_plain

    path = folder / "model.pt"
    try:
        state = load_plain(path)
        model.load_state_dict(state)
    except Exception as exc:  # noqa: BLE001 - truncated, foreign or mismatched file
        raise damaged(path, describe_load_error(exc), folder) from None


def open_classifier_session(folder: Path, device: str) -> Any:
    """An ONNX Runtime session on ``folder/model.onnx``; a damaged file is a UserError."""
    path = folder / "model.onnx"
    try:
        return open_session(path, device)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - onnxruntime's own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise damaged(path, f"ONNX Runtime cannot load it: {first}", folder) from None


def is_trained(folder: Path) -> bool:
    """Whether ``folder`` holds a finished classifier's weights and ONNX export (its
    ``meta.json`` is checked by the caller)."""
    return (folder / "model.pt").is_file() and (folder / "model.onnx").is_file()


def state_digest(state: Mapping[str, Any]) -> str:
    """The SHA-256 of a state dict's names, dtypes, shapes and values (for checking
    that every rank of a data-parallel training holds the same model)."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)};".encode())
        digest.update(tensor.numpy().tobytes())
    return digest.hexdigest()


def drop_training_state(folder: Path) -> None:
    """Once ``meta.json`` and ``model.pt`` exist, the task's training checkpoints (every
    other ``*.pt``, e.g. a 190 MB ``checkpoint.pt`` for ResNet-50) are not needed."""
    if (folder / "meta.json").is_file() and (folder / "model.pt").is_file():
        for path in folder.glob("*.pt"):
            if path.name != "model.pt":
                path.unlink(missing_ok=True)


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
        self.root = out_dir / "classifiers"
        self.device = device
        self._ready: dict[str, tuple[Any, Any, dict[str, Any]]] = {}

    def key(self, cell: CellId) -> dict[str, Any]:
        """What the classifier of ``cell`` is (to be) trained from."""
        spec = latent_spec_of(cell, self.encoded) if cell.anchor.domain == "latent" else None
        return classifier_key(self.plan, cell, self.samples["train"], self.encoded, spec)

    def clear_if_stale(self, name: str, folder: Path, key: dict[str, Any]) -> None:
        """Delete a classifier folder's files when they were trained from other data or
        settings than ``key`` (the log says which)."""
        files = [p for p in folder.iterdir() if p.is_file()]
        reason = stale_reason(_load_json(folder / KEY_FILE), key, "training")
        if not files or reason is None:
            return
        log(f"classifier {name}: retraining it: {reason}", folder.parent.parent)
        for path in files:
            path.unlink()

    def get(self, cell: CellId) -> tuple[Any, Any, dict[str, Any]]:

        name = classifier_name(cell.anchor, cell.codec, cell.quality, self.plan)
        if name in self._ready:
            return self._ready[name]
        import torch

        task, config = self.plan.task, self.plan.config
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        domain = cell.anchor.domain
        spec = latent_spec_of(cell, self.encoded) if domain == "latent" else None
        key = self.key(cell)
        self.clear_if_stale(name, folder, key)
        meta = _load_json(folder / "meta.json")
        torch.manual_seed(config.seed)  # the same --seed, the same initial weights
        model = task.classifier_for(domain, spec, config.preset)
        if meta is not None and is_trained(folder):
            load_classifier(model, folder)
            drop_training_state(folder)
            log(f"classifier {name}: reused", folder.parent.parent)
        else:
            model, meta, _ = self.train(cell, name, folder, model, key)
        model.eval()
        session = open_classifier_session(folder, config.device)
        self._ready[name] = (model, session, meta)
        return self._ready[name]

    def train(
        self,
        cell: CellId,
        name: str,
        folder: Path,
        model: Any,
        key: dict[str, Any],
        data_parallel: dict[str, Any] | None = None,
    ) -> tuple[Any, dict[str, Any], Any]:
        """Train ``model`` (freshly built) for ``cell`` into ``folder``; write
        ``model.pt``, ``model.onnx`` and ``meta.json``. Return the model (on the CPU,
        in eval mode), its metadata and what the task's ``train`` returned.

        With ``data_parallel`` (``--ddp``, the task's rule) every rank calls this
        together and the task trains with ``ddp=True``; rank 0 alone writes the files
        while the others wait (and stop with its error if it fails)."""
        import torch

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
            folder.parent.parent,
        )
        if data_parallel:
            distributed.on_main(lambda: write_json(folder / KEY_FILE, key))
        else:
            write_json(folder / KEY_FILE, key)
        t0 = time.time()
        trained = task.train_for(
            model,
            items,
            preset=config.preset,
            domain=domain,
            out_dir=folder,
            device=self.device,
            workers=config.workers,
            seed=config.seed,
            ddp=bool(data_parallel),
            deterministic=config.deterministic,
        )
        train_s = time.time() - t0
        model = model.to("cpu").eval()

        def save() -> dict[str, Any]:
            from jpegai_eval.framework.image_io import atomic_output

            with atomic_output(folder / "model.pt") as tmp:
                torch.save(model.state_dict(), tmp)
            example = self.example_batch(domain, cell)
            export(model, (torch.from_numpy(example),), ["input"], folder / "model.onnx")
            info = task.classifier_info(model, domain, spec, config.preset)
            meta = {
                "name": name,
                "domain": domain,
                "train_on": source,
                "n_train": len(items),
                "preset": config.preset,
                "train_s": round(train_s, 1),
                "init": getattr(init, "summary", lambda: str(init))(),
                "history": getattr(trained, "history", None),
                "training_mode": getattr(trained, "training_mode", None),
                **info,
            }
            if data_parallel:
                meta["data_parallel"] = data_parallel
                meta["model_sha256"] = state_digest(model.state_dict())

            write_json(folder / "meta.json", meta)
            drop_training_state(folder)
            return meta

        if not data_parallel:
            return model, save(), trained
        meta = distributed.on_main(save)
        if meta is None:  # the other ranks read what rank 0 wrote
            meta = _load_json(folder / "meta.json") or {}
        return model, meta, trained

    def example_batch(self, domain: str, cell: CellId) -> Any:
        data = "latents" if domain == "latent" else "original"
        items = _items(
            data, self.samples["test"][:2] or self.samples["train"][:2], cell, self.encoded
        )
        return self.plan.task.eval_batch([p for p, _ in items], domain, self.plan.config.preset)


def train_together(
    plan: Plan,
    cells: list[CellId],
    samples: dict[str, list[Sample]],
    encoded: Encoded,
    out_dir: Path,
    device: str,
) -> dict[str, dict[str, Any]]:
    """``--ddp``: every rank trains each classifier of ``cells`` not trained yet, one
    after the other, all together (the task's ``train(..., ddp=True)``); rank 0 writes
    the files. Return, per classifier trained, this rank's part (the task's record: the
    images and steps it processed) and the digest of the model it ended with."""
    import torch

    classifiers = Classifiers(plan, samples, encoded, out_dir, device)
    done: dict[str, dict[str, Any]] = {}
    seen: set[str] = set()
    for cell in cells:
        name = classifier_name(cell.anchor, cell.codec, cell.quality, plan)
        if name in seen:
            continue
        seen.add(name)
        folder = classifiers.root / name
        key = classifiers.key(cell)

        def check(name: str = name, folder: Path = folder, key: dict[str, Any] = key) -> bool:
            folder.mkdir(parents=True, exist_ok=True)
            classifiers.clear_if_stale(name, folder, key)
            return (folder / "meta.json").is_file() and is_trained(folder)

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


def evaluate_cell(cell: CellId, classifiers: Classifiers) -> dict[str, Any]:
    """Top-1/Top-5 of one cell on the test split, through ONNX Runtime."""
    import numpy as np

    plan = classifiers.plan
    model, session, meta = classifiers.get(cell)
    domain = cell.anchor.domain
    test = classifiers.samples["test"]
    items = _items(cell.anchor.eval_on, test, cell, classifiers.encoded)
    if not items:
        raise UserError("The test split is empty: nothing to evaluate.")
    logits = []
    infer_s = 0.0
    diff = 0.0
    size = getattr(session, "batch_size", EVAL_BATCH)  # larger on the CUDA provider
    for start in range(0, len(items), size):
        batch = plan.task.eval_batch(
            [p for p, _ in items[start : start + size]], domain, plan.config.preset
        )
        if start == 0:  # parity with PyTorch on the first batch, before trusting ONNX
            folder = classifiers.root / meta["name"]
            try:
                diff = parity(model, session, (batch[:EVAL_BATCH],))
            except Exception as exc:  # noqa: BLE001 - e.g. an ONNX graph of another input
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
                raise onnx_mismatch(folder, f"it does not run on this input: {first}") from None
            if diff > PARITY_TOLERANCE:
                raise onnx_mismatch(
                    folder, f"max logit difference {diff:.2e} > {PARITY_TOLERANCE:.0e}"
                )
        t0 = time.perf_counter()
        logits.append(session(batch))
        infer_s += time.perf_counter() - t0
    scored = topk_from_logits(np.concatenate(logits), [label for _, label in items])
    predictions = {s.id: p["pred"] for s, p in zip(test, scored.predictions, strict=True)}
    row = {
        "anchor": cell.anchor.id,
        "domain": domain,
        "top1": scored.top1,
        "top5": scored.top5,
        "n_test": len(items),
        "classifier": meta["name"],
        "params": meta.get("params"),
        "macs": meta.get("macs"),
        "provider": session.provider,
        "infer_ms_per_image": 1000 * infer_s / len(items),
        "onnx_max_abs_diff": diff,
        "init": meta.get("init"),
    }
    return {"row": row, "predictions": predictions}


def onnx_mismatch(folder: Path, why: str) -> UserError:
    return UserError(
        f"{str(folder / 'model.onnx')!r} does not match {str(folder / 'model.pt')!r} "
        f"(ONNX Runtime and PyTorch disagree: {why}), so its accuracy cannot be trusted. "
        f"The ONNX file was replaced or damaged: delete the classifier folder "
        f"{str(folder)!r} and rerun the same command to retrain and export it again."
    )


def load_cell(path: Path) -> dict[str, Any] | None:
    """A finished cell's record, or None when there is none yet. A record without its
    row and predictions is a UserError naming the file."""
    if not path.exists():
        return None
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise damaged(path, f"not JSON: {exc}", path) from None
    if (
        not isinstance(done, dict)
        or not isinstance(done.get("row"), dict)
        or not isinstance(done.get("predictions"), dict)
        or "provider" not in done["row"]
    ):
        raise damaged(path, 'no "row" and "predictions" of a finished cell', path)
    return done


def fresh_cell(path: Path, key: dict[str, Any], name: str, out_dir: Path) -> dict[str, Any] | None:
    """The finished cell at ``path`` if it was computed from ``key``; else None (and the
    log says why it is redone: stale, or a damaged record, which is only a result)."""
    try:
        done = load_cell(path)
    except UserError as exc:
        log(f"{name}: evaluating it again: {path.name} is damaged ({exc.message[:120]})", out_dir)
        return None
    if done is None:
        return None
    reason = stale_reason(done.get("key"), key, "test")
    if reason is not None:
        log(f"{name}: evaluating it again: {reason}", out_dir)
        return None
    return done


def codec_columns(cell: CellId, encoded: Encoded, test: list[Sample]) -> dict[str, Any]:

    if cell.codec is None or cell.quality is None:
        return {"codec": "original", "backend": "", "quality": None}
    metrics = encoded.metrics[(cell.codec.key, cell.quality)]
    ms = [metrics[s.id] for s in test if s.id in metrics]
    return {
        "codec": cell.codec.id,
        "backend": cell.codec.backend,
        "quality": cell.quality,
        "bpp": mean([m["bpp"] for m in ms]),
        "psnr": mean([m["psnr"] for m in ms]),
        "ms_ssim": mean([m["ms_ssim"] for m in ms]),
        "ssim": mean([m["ssim"] for m in ms]),
        "encode_ms_per_image": mean([m["encode_ms"] for m in ms]),
        "decode_ms_per_image": mean([m["decode_ms"] for m in ms]),
        "latents_ms_per_image": mean([m.get("latents_ms") for m in ms]),
        **rate_point_columns(cell.codec, cell.quality, ms),
    }


def rate_point_columns(codec: Any, quality: int, ms: list[dict[str, Any]]) -> dict[str, Any]:
    """A target-rate cell's target and share of test images within ±10 % of it."""
    target_for = getattr(codec, "target_for", None)
    if target_for is None:
        return {}
    flags = [bool(m.get("within_tolerance")) for m in ms]
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
) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]], str]:
    """Evaluate every cell (skipping finished ones); rows, predictions, provider."""
    classifiers = Classifiers(plan, samples, encoded, out_dir, device)
    (out_dir / "cells").mkdir(exist_ok=True)
    rows, predictions, providers = [], {}, []
    bar = progress(cells, desc="cells", unit="cell")
    for cell in bar:
        bar.set_postfix_str(cell.name)
        path = out_dir / "cells" / f"{cell.name}.json"
        key = cell_key(cell, classifiers.key(cell), samples["test"], encoded)
        done = fresh_cell(path, key, cell.name, out_dir)
        if done is None:
            result = evaluate_cell(cell, classifiers)
            done = {
                "row": {**codec_columns(cell, encoded, samples["test"]), **result["row"]},
                "predictions": result["predictions"],
                "key": key,
            }
            write_json(path, done)
            log(
                f"{cell.name}: top1 {100 * done['row']['top1']:.2f}%  "
                f"top5 {100 * done['row']['top5']:.2f}%  ({done['row']['provider']})",
                out_dir,
            )
        rows.append(done["row"])
        predictions[cell.name] = done["predictions"]
        providers.append(done["row"]["provider"])
    provider = ",".join(sorted(set(providers))) or "none"
    return rows, predictions, provider
