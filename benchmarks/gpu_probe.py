"""The probes behind ``benchmarks/gpu_check.sh`` (issue 26): training throughput, ONNX
Runtime parity on the device, and a paper-preset study on a MINC-shaped synthetic
subset with the projected wall-clock of the full paper study.

Each section prints ``key: value`` lines (what ``tests/test_gpu_check.py`` reads) and
can write its figures as JSON. ``--device cpu`` is a dry run on tiny sizes (seconds):
the same code paths, numbers that mean nothing.

    python benchmarks/gpu_probe.py train --device cuda [--json FILE]
    python benchmarks/gpu_probe.py onnx  --device cuda [--json FILE]
    python benchmarks/gpu_probe.py study --device cuda --out DIR [--per-class 100] [--json FILE]
    python benchmarks/gpu_probe.py project --study-json FILE   # the projection alone
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

#: MINC-2500 (partition 1): the full paper study's images and its training split.
MINC_IMAGES = 57_500
MINC_TRAIN = 48_875
MINC_TEST = 5_750
PAPER_EPOCHS = 30
#: bmshj2018 hyperprior at quality 1 (M = 192): cResNet-39 reads y_hat and sigma_hat.
LATENT_CHANNELS = (192, 192)


@dataclass(frozen=True)
class Throughput:
    """Training images/s of one model, input size, batch and precision."""

    model: str
    size: int
    batch: int
    precision: str  # "fp32" (the --deterministic mode) or "bf16" (the fast mode)
    images_per_s: float
    steps: int


# ----------------------------------------------------------------------- training


def _models(dry: bool) -> list[tuple[str, Any, tuple[int, int, int]]]:
    """(name, builder, input shape): the paper's ResNet-50 at 224 and cResNet-39 at 28;
    at a quarter width and tiny inputs for a dry run."""
    from jpegai_eval.tasks.models import CResNet39, ResNet50DeepStem

    width = 0.25 if dry else 1.0
    pixel, latent = (32, 4) if dry else (224, 28)
    channels = (4, 4) if dry else LATENT_CHANNELS
    return [
        ("resnet50", lambda: ResNet50DeepStem(23, width), (3, pixel, pixel)),
        ("cresnet39", lambda: CResNet39(*channels, 23, width), (sum(channels), latent, latent)),
    ]


def train_throughput(
    build: Any, shape: tuple[int, ...], batch: int, precision: str, device: str, steps: int
) -> float:
    """Images/s of the training step (SGD as the paper preset, cross-entropy) on
    in-memory data, in the mode ``--deterministic`` (fp32) or the fast mode (bf16)
    would train in, after two warm-up steps."""
    import torch

    from jpegai_eval.framework.run.training_mode import training_mode
    from jpegai_eval.tasks import training

    dev = torch.device(device)
    mode = training_mode(device, deterministic=precision == "fp32")
    if precision == "bf16" and mode.autocast is None:  # a CPU dry run: the CUDA path
        mode = replace(mode, autocast="bfloat16", channels_last=True)
    torch.manual_seed(0)
    model = build().to(dev).train()
    if mode.channels_last:
        model = model.to(memory_format=torch.channels_last)
    x = torch.randn(batch, *shape, device=dev)
    if mode.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 23, (batch,), device=dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    loss_fn = torch.nn.CrossEntropyLoss()

    def step() -> None:
        with training.autocast_for(mode, dev):
            loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def sync() -> None:
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)

    with training.kernels_for(mode):
        for _ in range(2):
            step()
        sync()
        t0 = time.perf_counter()
        for _ in range(steps):
            step()
        sync()
        seconds = time.perf_counter() - t0
    return batch * steps / seconds


def probe_training(device: str, batches: list[int], steps: int) -> list[Throughput]:
    dry = device == "cpu"
    rows = []
    for name, build, shape in _models(dry):
        for batch in batches:
            for precision in ("fp32", "bf16"):
                try:
                    ips = train_throughput(build, shape, batch, precision, device, steps)
                except RuntimeError as exc:  # e.g. out of memory: say so, go on
                    print(f"train probe: {name} batch {batch} {precision}: failed ({exc})"[:300])
                    continue
                row = Throughput(name, shape[-1], batch, precision, round(ips, 1), steps)
                rows.append(row)
                print(
                    f"train probe: {name}@{row.size} batch {batch} {precision}: "
                    f"{row.images_per_s:.1f} images/s"
                )
    for name, *_ in _models(dry):
        for batch in batches:
            got = {r.precision: r.images_per_s for r in rows if (r.model, r.batch) == (name, batch)}
            if len(got) == 2:
                print(
                    f"train probe: {name} batch {batch} bf16/fp32: {got['bf16'] / got['fp32']:.2f}"
                )
    return rows


# --------------------------------------------------------------------------- onnx


def probe_onnx(device: str, out: Path) -> dict[str, Any]:
    """ResNet-50 exported in fp32, run by ONNX Runtime on ``device`` (IO binding on
    CUDA): its provider, the parity with PyTorch on 32 images, and images/s."""
    import numpy as np
    import torch

    from jpegai_eval.framework.run import onnx_runtime

    dry = device == "cpu"
    name, build, shape = _models(dry)[0]
    torch.manual_seed(0)
    model = build().eval()
    out.mkdir(parents=True, exist_ok=True)
    example = torch.zeros(1, *shape)
    path = onnx_runtime.export(model, (example,), ["input"], out / f"{name}.onnx")
    session = onnx_runtime.open_session(path, device)
    x = np.random.default_rng(0).standard_normal((32, *shape)).astype(np.float32)
    diff = onnx_runtime.parity(model, session, (x,))
    ok = diff <= onnx_runtime.PARITY_TOLERANCE
    print(
        f"onnx parity: {name} provider {session.provider} io_binding {session.io_binding} "
        f"max|diff| {diff:.2e} (tolerance {onnx_runtime.PARITY_TOLERANCE:.0e}): "
        f"{'ok' if ok else 'FAILED'}"
    )
    record: dict[str, Any] = {
        "model": name,
        "provider": session.provider,
        "io_binding": session.io_binding,
        "max_abs_diff": diff,
        "parity_ok": ok,
    }
    for batch in (4,) if dry else (32, 256):
        xb = np.random.default_rng(1).standard_normal((batch, *shape)).astype(np.float32)
        session(xb)  # warm-up (CUDA: kernels, memory arena)
        reps = 2 if dry else 10
        t0 = time.perf_counter()
        for _ in range(reps):
            session(xb)
        ips = batch * reps / (time.perf_counter() - t0)
        record[f"images_per_s_batch{batch}"] = round(ips, 1)
        print(f"onnx inference: {name} batch {batch}: {ips:.1f} images/s")
    return record


# -------------------------------------------------------------------------- study


@dataclass(frozen=True)
class StudyMeasure:
    """What the subset study took, per unit of work, to scale up from."""

    images: int
    train_images: int
    test_images: int
    qualities: int
    epochs_run: int
    encode_s: float
    dataset_s: float
    classify_s: float
    #: seconds of one (the last) epoch per classifier, by classifier folder name
    epoch_s: dict[str, float]
    train_s: dict[str, float]


@dataclass(frozen=True)
class Projection:
    """The full paper study's projected wall-clock, in seconds."""

    encode_s: float
    train_s: float
    other_s: float
    one_gpu_s: float
    eight_gpus_s: float


def project(m: StudyMeasure, qualities: int = 3, gpus: int = 8) -> Projection:
    """Scale the subset's measures to MINC-2500: encoding by images (and qualities),
    each classifier's epoch by training images and to 30 epochs, the rest (evaluation,
    ONNX export, dataset listing) by test images. On ``gpus`` GPUs with --ddp: every
    part split over the ranks with ideal scaling (an optimistic bound)."""
    scale_q = qualities / max(m.qualities, 1)  # the subset may run fewer qualities
    encode = m.encode_s / max(m.images, 1) * MINC_IMAGES * scale_q
    full = {  # one classifier's 30 epochs on MINC's training split
        name: s / max(m.train_images, 1) * MINC_TRAIN * PAPER_EPOCHS
        for name, s in m.epoch_s.items()
    }
    # Anchor 3's classifier (on originals) is trained once; the others once per quality.
    once = sum(s for name, s in full.items() if name.endswith("-original"))
    train = once + (sum(full.values()) - once) * scale_q
    rest = max(m.classify_s - sum(m.train_s.values()), 0.0)  # evaluation, ONNX export
    other = rest / max(m.test_images, 1) * MINC_TEST * scale_q
    other += m.dataset_s * MINC_IMAGES / max(m.images, 1)
    one = encode + train + other
    return Projection(encode, train, other, one, one / gpus)


def run_study(device: str, out: Path, per_class: int, size: int, epochs: int) -> StudyMeasure:
    """The paper preset (``smoke`` for a CPU dry run) with ``epochs`` epochs, all
    anchors, qualities 1/4/8 (1 for a dry run), the shipped demo codec weights and
    classifiers from scratch (the device machine is offline), on a synthetic dataset
    in MINC-2500's layout; returns its measures."""
    from jpegai_eval.framework.run.evaluator import run_study as run
    from jpegai_eval.framework.run.plan import RunConfig
    from jpegai_eval.tasks import training
    from jpegai_eval.tasks.demo import write_demo_dataset

    dry = device == "cpu"
    preset = "smoke" if dry else "paper"
    qualities = [1] if dry else [1, 4, 8]
    root = out / "minc"
    pool = 1 if dry else max(1, (os.cpu_count() or 1))
    if not (root / "labels").is_dir():
        t0 = time.perf_counter()
        write_demo_dataset(root, per_class=per_class, size=size, seed=1, workers=pool)
        print(
            f"study: wrote {per_class * 23} MINC-layout images of {size}px in "
            f"{time.perf_counter() - t0:.1f} s"
        )
    # The probe runs the preset's recipe for fewer epochs and scales to 30.
    training.PRESETS[preset] = replace(training.PRESETS[preset], epochs=epochs)
    config = RunConfig(
        codecs=["hyperprior-msssim"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(root)},
        qualities=qualities,
        weights="demo",
        preset=preset,
        imagenet_weights="none",
        device=device,
        workers=training.default_workers() or 1,
    )
    t0 = time.perf_counter()
    run(config, out_dir=out / "run", force=True)
    wall = time.perf_counter() - t0
    info = json.loads((out / "run" / "run.json").read_text())
    timings = info.get("timings", {})
    epoch_s, train_s, n_train = {}, {}, 0
    for meta_path in sorted((out / "run" / "classifiers").glob("*/meta.json")):
        meta = json.loads(meta_path.read_text())
        history = meta.get("history") or []
        if history:
            epoch_s[meta["name"]] = float(history[-1]["seconds"])
        train_s[meta["name"]] = float(meta.get("train_s", 0.0))
        n_train = int(meta.get("n_train", n_train))
    results = (out / "run" / "results.csv").read_text().splitlines()
    per_image = (out / "run" / "per_image.csv").read_text().splitlines()
    n_test = max(len(per_image) - 1, 1)
    n_images = len(list((root / "images").rglob("*.*")))
    print(f"study: {preset} preset, {epochs} epoch(s), {len(results) - 1} cells in {wall:.1f} s")
    modes = ", ".join(
        f"{k}: batch {v['batch']} on {v['device']}" for k, v in info.get("encode", {}).items()
    )
    print(
        f"study: encode stage {float(timings.get('encode_s', 0.0)):.1f} s "
        f"({modes or 'mode not recorded'})"
    )
    for name in sorted(epoch_s):
        rate = n_train / epoch_s[name] if epoch_s[name] else 0.0
        print(f"study: classifier {name}: {epoch_s[name]:.2f} s/epoch ({rate:.1f} images/s)")
    return StudyMeasure(
        images=n_images,
        train_images=n_train,
        test_images=n_test,
        qualities=len(qualities),
        epochs_run=epochs,
        encode_s=float(timings.get("encode_s", 0.0)),
        dataset_s=float(timings.get("dataset_s", 0.0)),
        classify_s=float(timings.get("classify_s", 0.0)),
        epoch_s=epoch_s,
        train_s=train_s,
    )


def print_projection(p: Projection, dry: bool) -> None:
    hours = 3600.0
    note = " (dry run: meaningless)" if dry else ""
    print(
        f"projection: encode {p.encode_s / hours:.2f} h, training {p.train_s / hours:.2f} h, "
        f"evaluation and the rest {p.other_s / hours:.2f} h{note}"
    )
    print(
        f"projected full paper study ({MINC_IMAGES:,} images, qualities 1/4/8, all anchors, "
        f"{PAPER_EPOCHS} epochs): 1 GPU {p.one_gpu_s / hours:.2f} h; 8 GPUs (--ddp, ideal "
        f"scaling) {p.eight_gpus_s / hours:.2f} h{note}"
    )


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("section", choices=["train", "onnx", "study", "project"])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--json", type=Path, default=None, help="Write the figures here.")
    parser.add_argument("--out", type=Path, default=Path("gpu-check"), help="Scratch folder.")
    parser.add_argument("--per-class", type=int, default=None, help="Study images per class.")
    parser.add_argument("--size", type=int, default=None, help="Study image side (MINC: 362).")
    parser.add_argument("--epochs", type=int, default=None, help="Study epochs (then x30).")
    parser.add_argument("--study-json", type=Path, default=None, help="For `project`.")
    args = parser.parse_args(argv)
    dry = args.device == "cpu"
    if dry:  # seconds, even on a busy machine
        import torch

        torch.set_num_threads(1)
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            print("gpu probe: --device cuda but PyTorch sees no CUDA GPU", file=sys.stderr)
            return 2
    record: Any
    if args.section == "train":
        batches = [2] if dry else [32, 256]
        record = [asdict(r) for r in probe_training(args.device, batches, 1 if dry else 20)]
    elif args.section == "onnx":
        record = probe_onnx(args.device, args.out)
        if not record["parity_ok"]:
            return 1
    elif args.section == "study":
        measure = run_study(
            args.device,
            args.out,
            args.per_class or (3 if dry else 100),
            args.size or (64 if dry else 362),
            args.epochs or (1 if dry else 2),
        )
        projection = project(measure)
        print_projection(projection, dry)
        record = {"measure": asdict(measure), "projection": asdict(projection)}
    else:
        data = json.loads(args.study_json.read_text())
        projection = project(StudyMeasure(**data["measure"]))
        print_projection(projection, dry)
        record = asdict(projection)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
