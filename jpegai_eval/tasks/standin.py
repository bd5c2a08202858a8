"""The demo's stand-in for ImageNet: classifier weights pretrained on procedural textures.

The paper fine-tunes every classifier from ImageNet-trained weights; trained from
scratch on a few hundred images, ResNet-50 learns little (the ``quick`` preset did so
and reached about 30% Top-1 on the demo dataset). ImageNet weights cannot ship with the
package (98 MB, and not at the ``quick`` preset's width), so ``quick`` starts from this
project's own stand-in: the ``quick``-width ResNet-50 pretrained on a large procedural
texture corpus that shares no image with any demo dataset. Its compressed-domain half
is cResNet-39 at the same width, pretrained on the demo codec's latents (y_hat,
sigma_hat) of the same corpus, as the paper's cResNet-39 starts from one trained on
ImageNet's compressed representations (:func:`pretrain_latents`).

The corpus: :data:`CORPUS_PER_CLASS` images per demo texture family, drawn by the demo
generators (:func:`jpegai_eval.tasks.demo.texture`) from random streams keyed
``(STANDIN_KEY, seed, class, index)``, never the demo's ``(seed, class, index)``, each
turned by ``index % 4`` quarter turns. The network learns to tell the 23 families apart;
its head is not shipped: like ImageNet's 1000-way fc, it stays behind, and every task
trains its own. What transfers is the backbone (the stem, conv2_x..conv5_x; cResNet-39
takes conv3_x..conv5_x).

It is a stronger prior for the demo than ImageNet is for MINC-2500: the corpus comes
from the same generator families as the demo's classes. The demo demonstrates the
pipeline and the study's qualitative story; it measures nothing about real materials.
``docs/demo.md`` says so next to its numbers.

    jpegai-eval task pretrain --out texture-standin.pt     # about 50 min on 2 CPU cores
    jpegai-eval task pretrain --domain latent --out texture-standin-cresnet39.pt
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from jpegai_eval.tasks.classes import MINC_CLASSES
from jpegai_eval.tasks.imagenet import (
    LATENT_STANDIN_FILE,
    STANDIN_FILE,
    STANDIN_NAME,
    latent_standin_path,
    standin_path,
)

__all__ = [
    "LATENT_STANDIN_FILE",
    "STANDIN_FILE",
    "STANDIN_NAME",
    "corpus_items",
    "corpus_latents",
    "latent_standin_path",
    "pretrain",
    "pretrain_latents",
    "standin_path",
]
#: First entry of every corpus image's random key: no demo image has a 4-entry key.
STANDIN_KEY = 0x5EED57
CORPUS_PER_CLASS = 800
CORPUS_SIZE = 128
ROTATIONS = 4
#: The pretraining recipe: the ``quick`` preset's augmentations, crops and width, with
#: these fields replaced.
RECIPE = {"epochs": 10, "batch_size": 32, "lr": 0.05, "milestones": (6, 9)}
#: The codec whose latents the cResNet-39 half learns from: the demo's, every quality,
#: corpus image ``index`` coded at quality ``LATENT_QUALITIES[index % 8]``.
LATENT_CODEC = "hyperprior-msssim"
LATENT_WEIGHTS = "demo"
LATENT_QUALITIES = (1, 2, 3, 4, 5, 6, 7, 8)


@dataclass(frozen=True)
class CorpusImage:
    """One corpus image (a picklable zero-argument source for the data loader)."""

    class_index: int
    index: int
    seed: int = 0
    size: int = CORPUS_SIZE

    def __call__(self) -> np.ndarray:
        from jpegai_eval.tasks.demo import texture

        rng = np.random.default_rng([STANDIN_KEY, self.seed, self.class_index, self.index])
        image = texture(MINC_CLASSES[self.class_index], rng, self.size)
        return np.ascontiguousarray(np.rot90(image, self.index % ROTATIONS))


def corpus_items(
    per_class: int = CORPUS_PER_CLASS, seed: int = 0, size: int = CORPUS_SIZE
) -> list[tuple[CorpusImage, int]]:
    """(source, label) for every corpus image: the texture family's index."""
    return [
        (CorpusImage(ci, i, seed, size), ci)
        for ci in range(len(MINC_CLASSES))
        for i in range(per_class)
    ]


def pretrain(
    out: Path,
    per_class: int = CORPUS_PER_CLASS,
    seed: int = 0,
    workers: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    **recipe: Any,
) -> dict[str, Any]:
    """Pretrain the stand-in and write ``out``: a float16 state dict of the backbone
    (no fc) in torchvision-style names, and ``out`` + ``.json`` describing it.
    Resumable: the epoch checkpoints live in ``work_dir`` (default ``out`` + ``.work``)."""
    from jpegai_eval.tasks.training import get_preset

    preset = get_preset("quick", **{**RECIPE, **recipe})
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    return _train_and_write(
        out,
        "pixel",
        corpus_items(per_class, seed),
        None,
        preset,
        work,
        per_class=per_class,
        seed=seed,
        workers=workers,
        log=log,
        progress=progress,
        start=time.perf_counter(),
        about={"model": f"ResNet-50 (deep stem), width {preset.width}"},
        command=f"jpegai-eval task pretrain --out {out.name} --per-class {per_class} --seed {seed}",
    )


def _train_and_write(
    out: Path,
    domain: str,
    items: list[Any],
    spec: Any,
    preset: Any,
    train_dir: Path,
    *,
    per_class: int,
    seed: int,
    workers: int | None,
    log: Callable[[str], None] | None,
    progress: bool,
    start: float,
    about: dict[str, Any],
    command: str,
) -> dict[str, Any]:
    """What both halves of the stand-in share: build the ``domain`` classifier at the
    preset's width, train it on ``items`` (checkpoints in ``train_dir``), write it with
    :func:`_write` and a record of ``about``, the corpus, the recipe and the history."""
    import torch

    from jpegai_eval.tasks import models
    from jpegai_eval.tasks.training import train_classifier

    torch.manual_seed(seed)
    model = models.build_classifier(domain, spec, num_classes=len(MINC_CLASSES), width=preset.width)
    result = train_classifier(
        model,
        items,
        preset,
        domain,
        train_dir,
        device="cpu",
        workers=workers,
        seed=seed,
        progress=progress,
        log=log,
    )
    record = _write(
        out,
        model,
        {
            **about,
            "corpus": _corpus_record(per_class, seed),
            "recipe": preset.as_dict(),
            "seed": seed,
            "final_train_top1": result.history[-1].get("train_top1") if result.history else None,
            "history": result.history,
            "seconds": round(time.perf_counter() - start, 1),
            "command": command,
        },
    )
    if log:
        log(f"wrote {out} ({record['bytes']} bytes) in {record['seconds']} s")
    return record


def _corpus_record(per_class: int, seed: int) -> dict[str, Any]:
    return {
        "generator": "jpegai_eval.tasks.demo.texture",
        "key": [STANDIN_KEY, seed, "class", "index"],
        "per_class": per_class,
        "classes": len(MINC_CLASSES),
        "images": per_class * len(MINC_CLASSES),
        "size": CORPUS_SIZE,
        "labels": "texture family (23); each image turned by index % 4 quarter turns",
    }


def _write(out: Path, model: Any, about: dict[str, Any]) -> dict[str, Any]:
    """Write the backbone of ``model`` (float16, no fc: the head stays behind) to ``out``
    and ``out`` + ``.json`` describing it (``about`` and the file's digest)."""
    import torch

    from jpegai_eval.framework.io.image_io import atomic_output

    state = {
        k: v.detach().to(torch.float16) if v.is_floating_point() else v.detach()
        for k, v in model.state_dict().items()
        if not k.startswith("fc.")
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_output(out) as tmp, open(tmp, "wb") as handle:
        torch.save(state, handle)
    record = {
        "file": out.name,
        "sha256": hashlib.sha256(out.read_bytes()).hexdigest(),
        "bytes": out.stat().st_size,
        "parameters_shipped": int(sum(v.numel() for v in state.values())),
        **about,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    with atomic_output(out.with_name(out.name + ".json")) as tmp:
        Path(tmp).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return record


def corpus_latents(
    folder: Path,
    per_class: int = CORPUS_PER_CLASS,
    seed: int = 0,
    codec_id: str = LATENT_CODEC,
    weights: str = LATENT_WEIGHTS,
    qualities: tuple[int, ...] = LATENT_QUALITIES,
    log: Callable[[str], None] | None = None,
) -> tuple[list[tuple[Path, int]], Any, dict[str, str]]:
    """Code every corpus image with ``codec_id`` (image ``index`` at quality
    ``qualities[index % len(qualities)]``) and keep its latents in ``folder``: one
    ``.npz`` (the LatentSpec's tensors, y_hat and sigma_hat, in float16) per image,
    under a folder per quality named by the weights' digest, so other weights never
    reuse them. Resumable: files that exist are kept. Returns the (path, label) items,
    the latent description and the weights digest of each quality."""
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.io.image_io import atomic_output

    codec = get_plugins().codecs.resolve(codec_id)
    models = {q: codec.load(q, weights) for q in sorted(set(qualities))}
    ids = {q: m.weights_id.hex()[:16] for q, m in models.items()}
    specs = {repr(m.latent_spec) for m in models.values()}
    if len(specs) != 1:
        raise ValueError(f"{codec_id} {weights}: the qualities' latents differ ({specs}).")
    spec = next(iter(models.values())).latent_spec
    items: list[tuple[Path, int]] = []
    made = 0
    start = time.perf_counter()
    corpus = corpus_items(per_class, seed)
    for n, (source, label) in enumerate(corpus):
        q = qualities[source.index % len(qualities)]
        sub = folder / f"q{q}-{ids[q]}"
        path = sub / f"{label:02d}-{source.index:05d}.npz"
        if not path.is_file():
            sub.mkdir(parents=True, exist_ok=True)
            model = models[q]
            latents = model.latents(model.encode(source()))
            with atomic_output(path) as tmp, open(tmp, "wb") as handle:
                np.savez(handle, **{n: latents[n].astype(np.float16) for n in spec.names})
            made += 1
            if log and made % 500 == 0:
                rate = made / (time.perf_counter() - start)
                log(f"latents: {n + 1}/{len(corpus)} ({rate:.1f} images/s)")
        items.append((path, label))
    return items, spec, {str(q): i for q, i in ids.items()}


def pretrain_latents(
    out: Path,
    per_class: int = CORPUS_PER_CLASS,
    seed: int = 0,
    workers: int | None = None,
    work_dir: Path | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
    **recipe: Any,
) -> dict[str, Any]:
    """Pretrain the stand-in's cResNet-39 half on the demo codec's latents of the
    corpus and write ``out`` (+ ``.json``) as :func:`pretrain` does. Resumable: the
    latents and the epoch checkpoints live in ``work_dir`` (default ``out`` + ``.work``)."""
    from jpegai_eval.tasks.training import get_preset

    preset = get_preset("quick", **{**RECIPE, **recipe})
    work = Path(work_dir) if work_dir is not None else out.with_name(out.name + ".work")
    start = time.perf_counter()
    items, spec, ids = corpus_latents(work / "latents", per_class, seed, log=log)
    return _train_and_write(
        out,
        "latent",
        items,
        spec,
        preset,
        work / "train",
        per_class=per_class,
        seed=seed,
        workers=workers,
        log=log,
        progress=progress,
        start=start,
        about={
            "model": f"cResNet-39 on (y_hat, sigma_hat), width {preset.width}",
            "latents": {
                "codec": LATENT_CODEC,
                "weights": LATENT_WEIGHTS,
                "weights_id": ids,
                "latent_spec": repr(spec),
                "quality": "index % 8 + 1",
            },
            "coding_seconds": round(time.perf_counter() - start, 1),
        },
        command=f"jpegai-eval task pretrain --domain latent --out {out.name} "
        f"--per-class {per_class} --seed {seed}",
    )
