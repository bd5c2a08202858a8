"""Benchmarks (issue #8): what compressed-domain recognition saves, and how fast ours is.

Five sections; every comparison is measured side by side in one process,
interleaved (every repetition runs each contender once on the same input, the order
alternating between repetitions), after warm-up repetitions that are discarded, and
reported as medians (with p10/p90 and every raw sample) and ratios of medians:

1. **inference** per image, same bitstreams, same codec weights, classifiers through
   onnxruntime::

     pixel      = entropy decode z_hat + h_s + entropy decode y_hat + g_s
                  + resize 256 / center crop 224 + ResNet-50
     compressed = entropy decode z_hat + h_s + entropy decode y_hat
                  + resize 32 / center crop 28 + cResNet-39

   with the codec's transforms (h_s, g_s) run by PyTorch (what ``decode`` and
   ``latents`` do) and by onnxruntime, at batch 1 and (fewer repetitions) batch 32.
   Per stage: time and multiply-accumulates. The entropy decoding is the codec's own
   (the model's ``decode_z`` and ``decode_y``: what ``decode``/``latents`` run, with the
   rANS decoder named in ``machine.rans_decoder``), and the staged outputs are checked
   against ``decode``/``latents`` on every run.
2. **classifiers**: onnxruntime vs PyTorch eager for ResNet-50 and cResNet-39.
3. **encode**: the plugin's ``encode`` (uint8 image -> ``.jai`` file) vs CompressAI's
   ``compress`` on the ready tensor (the overhead), and the evaluator's encode stage
   (``run_jobs``: encode, decode, latents, metrics, cache writes) with 1 and 2
   workers. Its throughput excluding pool start-up is the marginal rate between a run
   of N and one of N/2 images; including it, N over the wall time of the N run.
4. **metrics**: each registered metric's cost per image and per megapixel.
5. **training** (:mod:`jpegai_eval.bench.training`): the training loader's images/s
   per core, decode-once rows vs PNGs decoded every epoch (``loader_per_core``), and
   the framework's training step vs a bare PyTorch loop (``train_over_bare``).

Compute does not depend on weight values; entropy-coding time does, a little (it
follows the bitstream's length), so the bitstream rate is recorded with the timings.

``run_bench(config)`` returns the whole result as a JSON-able dict;
``format_report`` renders it as text; ``bench_summary_for_report`` turns a written
``bench.json`` into display-ready tables for the HTML report.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from jpegai_eval.bench.timing import (  # noqa: F401 (re-exported)
    Clock,
    interleaved,
    stage_stats,
    stats,
)
from jpegai_eval.framework.errors import UsageError, UserError
from jpegai_eval.reports.bench_json import (
    BenchResult,
    BitstreamSummary,
    ClassifierBatch,
    ClassifiersSection,
    EncodeOverhead,
    EncodeSection,
    EncodeStageSummary,
    InferenceBatch,
    InferenceMacs,
    InferenceSection,
    Judgement,
    MachineInfo,
    MetricCost,
    MetricSet,
    MetricsSection,
    PipelineTimes,
    QualityEntry,
    RawLoopEntry,
    StagedCheck,
    TrainingSection,
    WorkersEntry,
)
from jpegai_eval.reports.bench_summary import (  # noqa: F401 (re-exported)
    BENCH_FILE,
    SCHEMA,
    bench_summary_for_report,
    format_report,
    ratio,
    summary_tables,
    target_rows,
)

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

#: ``--weights`` value for CompressAI's zoo architecture with random initialisation.
ZOO_RANDOM = "zoo-random"
SECTIONS = ("inference", "classifiers", "encode", "metrics", "training")
TRANSFORMS = ("torch", "onnxruntime")
PIPELINES = ("pixel", "compressed")

#: name -> (comparison, target, what it is). ``>=``: the value must reach the target.
TARGETS: dict[str, tuple[str, float, str]] = {
    "pixel_over_compressed": (
        ">=",
        4.0,
        "inference time per image, pixel / compressed, quality 1, batch 1, each pipeline "
        "with its faster transforms backend",
    ),
    "ort_over_torch": (
        ">=",
        1.4,
        "classifier time, PyTorch eager / onnxruntime, batch 1, the lower of the two classifiers",
    ),
    "encode_overhead": (
        "<=",
        1.05,
        "encode time, plugin encode (image -> .jai) / CompressAI compress (tensor)",
    ),
    "workers_speedup": (
        ">=",
        1.3,
        "encode-stage throughput, 2 workers / 1 worker, excluding pool start-up",
    ),
    "encode_stage_over_raw": (
        ">=",
        0.8,
        "encode-stage throughput (1 worker, every file it writes) / a plain loop of "
        "CompressAI compress() + decompress() on the same images",
    ),
    "loader_speedup": (
        ">=",
        4.0,
        "training loader images/s per core (paper augmentation), today's (decode-once "
        "rows, tabled float steps) / the old path's (PNGs decoded every epoch, "
        "step-by-step augmentation)",
    ),
    "train_over_bare": (
        ">=",
        0.9,
        "training images/s, the framework's train_classifier with its loading taken out / "
        "a bare PyTorch loop, same model, batch, in-memory data and training mode",
    ),
}

#: ``--train-preset auto``: the preset each device trains with in practice.
TRAIN_PRESET_AUTO = {"cuda": "paper", "cpu": "quick"}


@dataclass
class BenchConfig:
    """What to measure; defaults reproduce the paper's setting (MINC-size images)."""

    codec: str = "hyperprior-msssim"
    qualities: list[int] = field(default_factory=lambda: [1])
    #: None: CompressAI's pretrained weights if they are on disk, else ``zoo-random``.
    weights: str | None = None
    images: int = 8
    size: int = 362
    images_dir: str | None = None
    device: str = "auto"
    threads: int | None = None
    reps: int = 10
    warmup: int = 2
    batch_sizes: list[int] = field(default_factory=lambda: [1, 32])
    batch_reps: int = 3
    encode_images: int = 16
    encode_reps: int = 3
    workers: list[int] = field(default_factory=lambda: [1, 2])
    sections: list[str] = field(default_factory=lambda: list(SECTIONS))
    preset: str = "paper"
    seed: int = 0
    #: The training section: loader images, and the preset of train_over_bare (``auto``:
    #: :data:`TRAIN_PRESET_AUTO`), its batch (None: the preset's) and timed steps.
    loader_images: int = 32
    train_preset: str = "auto"
    train_batch: int | None = None
    train_steps: int = 2

    def check(self) -> None:
        for name in (
            "images",
            "reps",
            "batch_reps",
            "encode_images",
            "encode_reps",
            "loader_images",
            "train_steps",
        ):
            if getattr(self, name) < 1:
                raise UsageError(
                    f"--{name.replace('_', '-')} must be at least 1; got {getattr(self, name)}."
                )
        if self.warmup < 0:
            raise UsageError(f"--warmup must be 0 or more; got {self.warmup}.")
        if self.size < 64:
            raise UsageError(
                f"--size {self.size} is too small: the hyperprior pads to multiples of 64 "
                "and the classifiers crop 224 pixels. Use --size 64 or more (362 is MINC's)."
            )
        if not self.batch_sizes or min(self.batch_sizes) < 1:
            raise UsageError(f"--batch takes positive sizes such as 1,32; got {self.batch_sizes}.")
        if not self.workers or min(self.workers) < 1:
            raise UsageError(f"--workers takes positive counts such as 1,2; got {self.workers}.")
        unknown = [s for s in self.sections if s not in SECTIONS]
        if unknown or not self.sections:
            raise UsageError(
                f"Unknown bench section(s) {', '.join(unknown) or '(none given)'}; the "
                f"sections are {', '.join(SECTIONS)}."
            )
        if not self.qualities:
            raise UsageError("No quality given: pass --quality Q (e.g. 1).")
        self._check_training()

    def _check_training(self) -> None:
        from jpegai_eval.tasks.training import get_preset

        if self.train_preset != "auto":
            get_preset(self.train_preset)  # an unknown name is a UsageError naming them
        if self.train_batch is not None and self.train_batch < 2:
            raise UsageError(
                f"--train-batch must be at least 2 (BatchNorm cannot train on a batch of "
                f"one); got {self.train_batch}."
            )


# --------------------------------------------------------------------------- numbers


def judge(name: str, value: float | None) -> Judgement:
    op, target, description = TARGETS[name]
    passed = None if value is None else (value >= target if op == ">=" else value <= target)
    return Judgement(value=value, target=target, op=op, passed=passed, what=description)


# --------------------------------------------------------------------- machine, MACs


def machine_info(threads: int, device: str) -> MachineInfo:
    import numpy as np
    import onnxruntime as ort
    import torch

    from jpegai_eval import __version__
    from jpegai_eval.codecs import rans
    from jpegai_eval.framework.run.onnx_runtime import providers_for

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    machine: MachineInfo = {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "load_average_start": [round(x, 2) for x in load] if load else None,
        "python": platform.python_version(),
        "jpegai_eval": __version__,
        "torch": torch.__version__,
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "threads": threads,
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "device": device,
        "ort_providers": providers_for(device),
        "ort_allow_spinning": False,
        "rans_decoder": rans.DECODER,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY"),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
    }
    return machine


def transform_macs(module: Any, example: Any) -> int:
    """Multiply-accumulates of one forward pass of a codec transform: Conv2d,
    ConvTranspose2d and GDN/IGDN (a 1x1 C->C convolution per pixel)."""
    import torch
    from compressai.layers import GDN
    from torch import nn

    macs = 0

    def hook(m: Any, inputs: Any, out: Any) -> None:
        nonlocal macs
        if isinstance(m, nn.Conv2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            macs += out.numel() * (m.in_channels // m.groups) * k
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.kernel_size[0] * m.kernel_size[1]
            macs += inputs[0].numel() * (m.out_channels // m.groups) * k
        elif isinstance(m, GDN):
            macs += inputs[0].numel() * inputs[0].shape[1]

    kinds = (nn.Conv2d, nn.ConvTranspose2d, GDN)
    handles = [m.register_forward_hook(hook) for m in module.modules() if isinstance(m, kinds)]
    try:
        with torch.no_grad():
            module(example)
    finally:
        for h in handles:
            h.remove()
    return int(macs)


# ------------------------------------------------------------------------ the inputs


def resolve_codec(codec_text: str) -> Any:
    """The registered codec; it must be a CompressAI hyperprior (the bench runs its
    transforms and entropy models one by one)."""
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.framework.api.plugins import get_plugins

    codec_id, _, backend = codec_text.partition("/")
    codec = get_plugins().codecs.resolve(codec_id, backend or None)
    if not isinstance(codec, CompressAIHyperprior):
        raise UsageError(
            f"jpegai-eval bench measures the CompressAI hyperprior's stages one by one; "
            f"codec {codec.key} is not one. Use --codec hyperprior-msssim or "
            "hyperprior-mse (backend compressai)."
        )
    return codec


def pretrained_on_disk(codec: Any, quality: int) -> bool:
    from jpegai_eval.codecs import weights as w

    try:
        path = w.pretrained_folder() / w.pretrained_filename(codec.id, quality)
    except KeyError:
        return False
    return path.is_file()


def materialise_weights(
    codec: Any, quality: int, weights: str | None, folder: Path, seed: int
) -> tuple[str, str]:
    """(the --weights value to load, a description). ``zoo-random`` is written as a
    checkpoint, so that every stage, worker processes included, loads it by path."""
    from jpegai_eval.codecs.compressai_hyperprior import ZOO_CONFIGS

    if weights is None:
        weights = "pretrained" if pretrained_on_disk(codec, quality) else ZOO_RANDOM
    if weights != ZOO_RANDOM:
        return weights, f"{weights} (loaded with the codec's own loader)"
    import torch
    from compressai.models import ScaleHyperprior

    from jpegai_eval.codecs.weights import save_checkpoint

    n, m = ZOO_CONFIGS[quality]
    torch.manual_seed(seed)
    net = ScaleHyperprior(n, m)
    path = folder / f"{codec.id}-q{quality}.pt"
    save_checkpoint(path, net, {"codec": codec.id, "quality": quality, "init": "random"})
    return str(path), (
        f"{ZOO_RANDOM}: CompressAI's zoo architecture for quality {quality} (N={n}, M={m}) "
        f"with random initialisation (torch seed {seed}); pretrained weights were not "
        "used (not on disk, or not asked for). Compute per image does not depend on the "
        "weight values; entropy-coding time follows the bitstream length, which differs "
        "from that of trained weights"
    )


def bench_images(config: BenchConfig, count: int) -> list[Any]:
    """``count`` (size, size, 3) uint8 images: the demo's textures, or --images-dir's
    files resized to size x size, cycled."""
    import numpy as np

    size = config.size
    if config.images_dir is None:
        from jpegai_eval.tasks.classes import MINC_CLASSES
        from jpegai_eval.tasks.demo import texture

        return [
            texture(
                MINC_CLASSES[i % len(MINC_CLASSES)], np.random.default_rng(config.seed + i), size
            )
            for i in range(count)
        ]
    from PIL import Image

    from jpegai_eval.framework.io.image_io import read_image

    folder = Path(config.images_dir)
    suffixes = {".png", ".jpg", ".jpeg", ".ppm", ".bmp", ".tif", ".tiff", ".webp"}
    files = (
        sorted(p for p in folder.rglob("*") if p.suffix.lower() in suffixes)
        if folder.is_dir()
        else []
    )
    if not files:
        raise UserError(
            f"--images-dir {str(folder)!r} holds no images (looked for "
            f"{', '.join(sorted(suffixes))}, recursively). Give a folder of images, or leave "
            "the option out to use synthetic textures."
        )
    images = []
    for path in files[:count]:
        image = read_image(path)
        if image.shape[:2] != (size, size):
            image = np.asarray(
                Image.fromarray(image).resize((size, size), Image.Resampling.BICUBIC)
            )
        images.append(np.ascontiguousarray(image))
    return [images[i % len(images)] for i in range(count)]


# --------------------------------------------------------------------- the pipelines


def export_module(module: Any, example: Any, path: Path, output: str) -> Path:
    """ONNX export of a codec transform (dynamic batch), for onnxruntime."""
    import torch

    from jpegai_eval.framework.io.image_io import atomic_output

    module.eval()
    with atomic_output(path) as tmp, torch.no_grad():
        torch.onnx.export(
            module,
            (example,),
            str(tmp),
            input_names=["input"],
            output_names=[output],
            dynamic_axes={"input": {0: "batch"}, output: {0: "batch"}},
            opset_version=17,
            dynamo=False,
        )
    return path


def bench_session(path: Path, device: str, threads: int) -> Any:
    """An onnxruntime session as the evaluator opens it, except that its idle worker
    threads sleep instead of spinning: spinning threads hold the cores for a while
    after each run and starve whatever runs next -- here the PyTorch contender, in the
    product the next pipeline stage."""
    from jpegai_eval.framework.run.onnx_runtime import open_session

    return open_session(path, device, threads, spinning=False)


class Stages:
    """The decoding stages of one hyperprior model, with its transforms (h_s, g_s) run
    by PyTorch or by onnxruntime, and the two classifiers' onnxruntime sessions."""

    def __init__(
        self,
        model: Any,
        size: int,
        folder: Path,
        device: str,
        threads: int,
        preset: str,
        cuda: bool,
    ) -> None:
        import torch

        from jpegai_eval.framework.run.onnx_runtime import export
        from jpegai_eval.tasks.models import CResNet39, ResNet50DeepStem
        from jpegai_eval.tasks.training import eval_transform

        self.model = model
        self.net = model.net
        self.size = size
        self.cuda = cuda
        self.torch_device = model.device
        self.z_shape = model.z_shape(size, size)
        _, self.lat_h, self.lat_w = model.latent_shape(size, size)
        spec = model.latent_spec
        m = spec.channels
        self.pixel_transform = eval_transform("pixel", preset)
        self.latent_transform = eval_transform("latent", preset)
        # Example tensors at the padded size, for exports and MACs.
        ph, pw = model.padded_size(size, size)
        z_example = torch.zeros((1, int(self.net.N), *self.z_shape))
        y_example = torch.zeros((1, m, ph // 16, pw // 16))
        folder.mkdir(parents=True, exist_ok=True)
        self.sessions = {
            "h_s": bench_session(
                export_module(self.net.h_s.cpu(), z_example, folder / "h_s.onnx", "scales_hat"),
                device,
                threads,
            ),
            "g_s": bench_session(
                export_module(self.net.g_s.cpu(), y_example, folder / "g_s.onnx", "x_hat"),
                device,
                threads,
            ),
        }
        self.net.to(self.torch_device)
        p = self.pixel_transform(model_dummy_image(size))
        lat = self.latent_transform(
            {
                "y_hat": y_example[0, :, : self.lat_h, : self.lat_w].numpy(),
                "sigma_hat": y_example[0, :, : self.lat_h, : self.lat_w].numpy(),
            }
        )
        torch.manual_seed(0)
        self.classifiers = {
            "resnet50": ResNet50DeepStem().eval(),
            "cresnet39": CResNet39.from_spec(spec).eval(),
        }
        self.classifier_inputs = {"resnet50": p.shape, "cresnet39": lat.shape}
        for name, clf in self.classifiers.items():
            example = torch.zeros((1, *self.classifier_inputs[name]))
            export(clf, (example,), ["input"], folder / f"{name}.onnx")
            self.sessions[name] = bench_session(folder / f"{name}.onnx", device, threads)
            clf.to(self.torch_device)
        self.provider = self.sessions["resnet50"].provider
        self.macs = self._macs(z_example, y_example)

    def _macs(self, z_example: Any, y_example: Any) -> dict[str, int]:
        from jpegai_eval.tasks.models import complexity

        dev = self.torch_device
        clf_macs = {
            name: complexity(clf.cpu(), tuple(self.classifier_inputs[name])).macs
            for name, clf in self.classifiers.items()
        }
        for clf in self.classifiers.values():
            clf.to(dev)
        return {
            "entropy_decode_z": 0,
            "h_s": transform_macs(self.net.h_s, z_example.to(dev)),
            "entropy_decode_y": 0,
            "g_s": transform_macs(self.net.g_s, y_example.to(dev)),
            "preprocess": 0,
            **clf_macs,
        }

    # -- the stages, on a batch of .jai files --------------------------------------
    def transforms(self, backend: str) -> dict[str, Callable[[Any], Any]]:
        """h_s and g_s for the codec's staged decode: its own (PyTorch) or onnxruntime's."""
        if backend == "torch":
            return {}
        import torch

        def run(name: str) -> Callable[[Any], Any]:
            session = self.sessions[name].session

            def transform(x: Any) -> Any:
                out = session.run(None, {"input": x.cpu().numpy()})[0]
                return torch.from_numpy(out).to(self.torch_device)

            return transform

        return {"h_s": run("h_s"), "g_s": run("g_s")}

    def decode(self, files: list[bytes], pipeline: str, transforms: str) -> Any:
        """The codec's own staged decode (``decode_batch``: what its ``decode``,
        ``latents`` and the encode stage run) with h_s/g_s from ``transforms``; the
        pixel pipeline asks it for images, the compressed one for latents."""
        return self.model.decode_batch(
            files,
            image=pipeline == "pixel",
            latents=pipeline == "compressed",
            transforms=self.transforms(transforms),
        )

    def pixel_inputs(self, images: list[Any]) -> Any:
        """The classifier's evaluation preprocessing (resize 256, center crop 224) of
        the decoded uint8 images."""
        import numpy as np

        return np.stack([self.pixel_transform(im) for im in images])

    def latent_inputs(self, latents: list[Mapping[str, NDArray[np.float32]]]) -> Any:
        """Resize 32, center crop 28 of the latents (y_hat, sigma_hat)."""
        import numpy as np

        return np.stack([self.latent_transform(lat) for lat in latents])

    def classify(self, name: str, inputs: Any) -> Any:
        return self.sessions[name](inputs)

    # -- whole pipelines --------------------------------------------------------------
    def run(self, pipeline: str, transforms: str, files: list[bytes]) -> dict[str, float]:
        """One pipeline on a batch, timed per stage. The decode's own stage times are
        used: its container checks count to ``entropy_decode_z``, its crop and rounding
        to uint8 (images) or crop to float32 (latents) to ``preprocess``."""
        clock = Clock(self.cuda).start()
        decoded = self.decode(files, pipeline, transforms)
        clock.lap("decode")
        if pipeline == "pixel":
            inputs = self.pixel_inputs(decoded.images)
            clock.lap("preprocess")
            self.classify("resnet50", inputs)
            clock.lap("resnet50")
        else:
            inputs = self.latent_inputs(decoded.latents)
            clock.lap("preprocess")
            self.classify("cresnet39", inputs)
            clock.lap("cresnet39")
        laps = clock.done()
        t = decoded.times
        stages = {
            "entropy_decode_z": t["open"] + t["entropy_decode_z"],
            "h_s": t["h_s"],
            "entropy_decode_y": t["entropy_decode_y"],
        }
        if pipeline == "pixel":
            stages["g_s"] = t["g_s"]
        # What the decode's wall time holds beyond its stages (a few microseconds) is
        # counted with the output step, so that the stages add up to the total.
        outside = laps["decode"] - sum(t.values())
        finish = t["image" if pipeline == "pixel" else "latents"] + max(0.0, outside)
        stages["preprocess"] = finish + laps["preprocess"]
        classifier = "resnet50" if pipeline == "pixel" else "cresnet39"
        stages[classifier] = laps[classifier]
        stages["total"] = sum(stages.values())
        return stages

    def check(self, data: bytes) -> dict[str, StagedCheck]:
        """The staged pipelines give exactly what the codec's decode/latents give."""
        import numpy as np

        decoded = self.model.decode(data)
        latents = self.model.latents(data)
        out: dict[str, StagedCheck] = {}
        for transforms in TRANSFORMS:
            staged = self.model.decode_batch(
                [data], image=True, latents=True, transforms=self.transforms(transforms)
            )
            image, lat = staged.images[0], staged.latents[0]
            out[transforms] = StagedCheck(
                decoded_max_abs_diff=int(
                    np.abs(image.astype(np.int16) - decoded.astype(np.int16)).max()
                ),
                y_hat_equal=bool(np.array_equal(lat["y_hat"], latents["y_hat"])),
                sigma_hat_max_abs_diff=float(np.abs(lat["sigma_hat"] - latents["sigma_hat"]).max()),
            )
        return out


def model_dummy_image(size: int) -> Any:
    import numpy as np

    return np.zeros((size, size, 3), dtype=np.uint8)


def _runner(
    stages: Stages, pipeline: str, transforms: str, batches: list[list[bytes]]
) -> Callable[[int], dict[str, float]]:
    def run(i: int) -> dict[str, float]:
        return stages.run(pipeline, transforms, batches[i])

    return run


def bench_inference(
    stages: Stages, files: list[bytes], config: BenchConfig, log: Callable[[str], None]
) -> InferenceSection:
    """Section 1 for one quality: per-stage times of both pipelines with both
    transforms backends at batch 1, then the faster backends at the larger batches."""
    batches_out: dict[str, InferenceBatch] = {}
    n = len(files)
    best: dict[str, str] = {}
    for batch in config.batch_sizes:
        # Item k of a batch-B run: files k*B .. k*B+B-1, cycling through the files.
        batches = [[files[(k * batch + j) % n] for j in range(batch)] for k in range(n)]
        if batch == 1:
            contenders = {
                f"{p}/{t}": _runner(stages, p, t, batches) for t in TRANSFORMS for p in PIPELINES
            }
            reps, warmup = config.reps, config.warmup
        else:
            for p in PIPELINES:
                best.setdefault(p, "torch")
            contenders = {f"{p}/{best[p]}": _runner(stages, p, best[p], batches) for p in PIPELINES}
            reps, warmup = config.batch_reps, min(config.warmup, 1)
        log(f"  inference batch {batch}: {', '.join(contenders)}, {warmup}+{reps} reps")
        runs = interleaved(contenders, reps, warmup, n)
        pipelines = {
            name: PipelineTimes(per_image=stage_stats(samples, per=batch))
            for name, samples in runs.items()
        }
        med = {k: v["per_image"]["total"]["median_ms"] for k, v in pipelines.items()}
        ratios: dict[str, float | None] = {}
        if batch == 1:
            for t in TRANSFORMS:
                ratios[t] = ratio(med[f"pixel/{t}"], med[f"compressed/{t}"])
            for p in PIPELINES:
                by_backend = {t: med[f"{p}/{t}"] for t in TRANSFORMS}
                best[p] = min(by_backend, key=lambda t: _median_key(by_backend[t]))
        ratios["best"] = ratio(
            med[f"pixel/{best['pixel']}"], med[f"compressed/{best['compressed']}"]
        )
        batches_out[str(batch)] = InferenceBatch(
            reps=reps,
            warmup=warmup,
            pipelines=pipelines,
            best_transforms=dict(best),
            pixel_over_compressed=ratios,
        )
    macs = stages.macs
    totals = InferenceMacs(
        stages=macs,
        pixel=macs["h_s"] + macs["g_s"] + macs["resnet50"],
        compressed=macs["h_s"] + macs["cresnet39"],
    )
    totals["pixel_over_compressed"] = ratio(totals["pixel"], totals["compressed"])
    return InferenceSection(batches=batches_out, macs=totals)


def _median_key(median_ms: float | None) -> tuple[bool, float]:
    """Order medians fastest first, an unmeasured one (None) last."""
    return (median_ms is None, median_ms or 0.0)


def bench_classifiers(
    stages: Stages, config: BenchConfig, log: Callable[[str], None]
) -> ClassifiersSection:
    """Section 2: onnxruntime vs PyTorch eager on the same random inputs."""
    import numpy as np
    import torch

    batches_out: dict[str, ClassifierBatch] = {}
    rng = np.random.default_rng(config.seed)
    for batch in config.batch_sizes:
        contenders: dict[str, Callable[[int], dict[str, float]]] = {}
        for name, clf in stages.classifiers.items():
            x = rng.standard_normal((batch, *stages.classifier_inputs[name])).astype(np.float32)
            xt = torch.from_numpy(x).to(stages.torch_device)

            def eager(_i: int, clf: Any = clf, xt: Any = xt) -> dict[str, float]:
                clock = Clock(stages.cuda).start()
                with torch.inference_mode():
                    clf(xt)
                clock.lap("run")
                return clock.done()

            def onnx(_i: int, name: str = name, x: Any = x) -> dict[str, float]:
                clock = Clock(stages.cuda).start()
                stages.classify(name, x)
                clock.lap("run")
                return clock.done()

            contenders[f"{name}/onnxruntime"] = onnx
            contenders[f"{name}/torch"] = eager
        reps = config.reps if batch == 1 else config.batch_reps
        warmup = config.warmup if batch == 1 else min(config.warmup, 1)
        log(f"  classifiers batch {batch}: {warmup}+{reps} reps")
        runs = interleaved(contenders, reps, warmup, 1)
        models = {
            key: stats([s["total"] / batch for s in samples]) for key, samples in runs.items()
        }
        batches_out[str(batch)] = ClassifierBatch(
            reps=reps,
            warmup=warmup,
            models=models,
            torch_over_onnxruntime={
                name: ratio(
                    models[f"{name}/torch"]["median_ms"],
                    models[f"{name}/onnxruntime"]["median_ms"],
                )
                for name in stages.classifiers
            },
        )
    return ClassifiersSection(
        batches=batches_out,
        macs={k: v for k, v in stages.macs.items() if k in stages.classifiers},
        provider=stages.provider,
        torch_device=str(stages.torch_device),
    )


# -------------------------------------------------------------------------- encode


class StageRun(NamedTuple):
    """One timed encode-stage run: ``workers`` processes (0: the raw CompressAI loop)
    on the first ``images`` images."""

    workers: int
    images: int


@dataclass
class EncodeStageTimes:
    """What the encode-stage runs measured: wall seconds per run, each job's stage
    seconds per worker count, and the workers each run really had."""

    walls: dict[StageRun, list[float]] = field(default_factory=dict)
    job_s: dict[int, dict[str, list[float]]] = field(default_factory=dict)
    effective: dict[StageRun, int] = field(default_factory=dict)


@dataclass(frozen=True)
class EncodeInputs:
    """What the encode section times: one codec model, its images as arrays, as the
    ready tensors CompressAI compresses, and as the task samples the stage reads."""

    codec: Any
    quality: int
    weights: str
    model: Any
    images: list[Any]
    tensors: list[Any]
    samples: list[Any]


JOB_STAGES = ("encode_ms", "decode_ms", "latents_ms")


def bench_encode(
    codec: Any,
    quality: int,
    weights: str,
    config: BenchConfig,
    folder: Path,
    log: Callable[[str], None],
) -> EncodeSection:
    """Section 3: plugin encode vs CompressAI compress; the encode stage, 1 vs 2 workers."""
    model = codec.load(quality, weights=weights, device="cpu")
    images = bench_images(config, config.encode_images)
    inputs = EncodeInputs(
        codec,
        quality,
        weights,
        model,
        images,
        tensors=[model.to_input(im) for im in images],
        samples=write_samples(images, folder / "encode-images"),
    )
    overhead = encode_overhead(inputs, config, log)
    method, times = time_encode_stage(inputs, config, folder, log)
    return EncodeSection(
        quality=quality,
        images=overhead["images"],
        per_image=overhead["per_image"],
        overhead=overhead["overhead"],
        encode_stage=encode_stage_summary(times, config, len(images), method),
    )


def encode_overhead(
    inputs: EncodeInputs, config: BenchConfig, log: Callable[[str], None]
) -> EncodeOverhead:
    """The plugin's encode (image -> .jai) against CompressAI's compress (tensor)."""
    import torch

    model, images, tensors = inputs.model, inputs.images, inputs.tensors
    n = len(images)

    def direct(i: int) -> dict[str, float]:
        t0 = time.perf_counter()
        with torch.inference_mode():
            model.net.compress(tensors[i])
        return {"total": time.perf_counter() - t0}

    def plugin(i: int) -> dict[str, float]:
        t0 = time.perf_counter()
        model.encode(images[i])
        return {"total": time.perf_counter() - t0}

    log(f"  encode: plugin vs compress, {n} images x {config.encode_reps} passes")
    runs = interleaved(
        {"plugin_encode": plugin, "compressai_compress": direct},
        config.encode_reps * n,
        min(config.warmup, 2),
        n,
    )
    per_image = {k: stats([s["total"] for s in v]) for k, v in runs.items()}
    overhead = ratio(
        per_image["plugin_encode"]["median_ms"], per_image["compressai_compress"]["median_ms"]
    )
    return EncodeOverhead(images=n, per_image=per_image, overhead=overhead)


def write_samples(images: list[Any], folder: Path) -> list[Any]:
    """The images as PNG files and the task samples the encode stage reads."""
    from jpegai_eval.framework.api.types import Sample
    from jpegai_eval.framework.io.image_io import write_image

    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    for i, im in enumerate(images):
        path = folder / f"img{i:03d}.png"
        write_image(path, im)
        samples.append(Sample(f"bench/img{i:03d}.png", path, 0))
    return samples


def time_encode_stage(
    inputs: EncodeInputs, config: BenchConfig, folder: Path, log: Callable[[str], None]
) -> tuple[str, EncodeStageTimes]:
    """The encode stage (``run_jobs``) into fresh caches on N and N/2 images per worker
    count, and the raw CompressAI loop on N, interleaved; (start method, the times)."""
    import torch

    from jpegai_eval.framework.run import encode_stage
    from jpegai_eval.framework.run.records import EncodedEntry, EncodeFailure

    codec, quality, weights, samples = inputs.codec, inputs.quality, inputs.weights, inputs.samples
    n = len(samples)
    half = max(1, n // 2)
    times = EncodeStageTimes()
    method = encode_stage.start_method()
    caches = iter(folder / f"cache-{k}" for k in range(1, 1 << 30))

    def stage_run(run: StageRun) -> float:
        """The encode stage as the evaluator runs it: the cell is opened first (which
        loads the model, as ``run`` does before its encode stage), then ``run_jobs``
        into a fresh cache is timed."""
        cell = encode_stage.open_cell(codec, quality, weights, next(caches))
        jobs = encode_stage.make_jobs([cell], samples[: run.images])
        times.effective[run] = encode_stage.effective_workers(run.workers, run.images, method)
        t0 = time.perf_counter()
        done = list(encode_stage.run_jobs(jobs, run.workers))
        wall = time.perf_counter() - t0
        entries = [r for _, r in done if isinstance(r, EncodedEntry)]
        errors = [r.error for _, r in done if isinstance(r, EncodeFailure)]
        if errors or len(entries) != run.images:
            raise RuntimeError(f"encode stage failed in the bench: {errors[:1]}")
        per_job = times.job_s.setdefault(run.workers, {})
        for key in JOB_STAGES:
            ms = [e.number(key) for e in entries]
            per_job.setdefault(key, []).extend(v / 1e3 for v in ms if v is not None)
        return wall

    def raw_pass() -> float:
        """A plain loop of CompressAI compress() + decompress() over the same images
        (ready tensors, nothing written): what the encode stage is compared with."""
        t0 = time.perf_counter()
        with torch.inference_mode():
            for x in inputs.tensors:
                out = inputs.model.net.compress(x)
                inputs.model.net.decompress(out["strings"], out["shape"])
        return time.perf_counter() - t0

    order = [StageRun(w, c) for w in config.workers for c in (n, half)]
    order.append(StageRun(0, n))  # 0: the raw CompressAI loop
    log(
        f"  encode stage: workers {', '.join(map(str, config.workers))} ({method}), {n} and "
        f"{half} images, and raw compress+decompress, {config.encode_reps} reps"
    )
    for rep in range(config.encode_reps):
        for run in order if rep % 2 == 0 else order[::-1]:
            wall = raw_pass() if run.workers == 0 else stage_run(run)
            times.walls.setdefault(run, []).append(wall)
    return method, times


def encode_stage_summary(
    times: EncodeStageTimes, config: BenchConfig, n: int, method: str
) -> EncodeStageSummary:
    """Throughput of each worker count (including and excluding pool start-up), the
    2-over-1 speed-up and the stage over the raw CompressAI loop."""
    import torch

    half = max(1, n // 2)
    workers = {str(w): _workers_entry(times, w, n) for w in config.workers}
    raw_walls = times.walls[StageRun(0, n)]
    raw_wall = statistics.median(raw_walls)
    raw: RawLoopEntry = {
        f"wall_{n}_images": stats(raw_walls),
        "images_per_s": round(n / raw_wall, 4),
        "threads": torch.get_num_threads(),
    }
    stage = EncodeStageSummary(
        images=n,
        half=half,
        reps=config.encode_reps,
        start_method=method,
        workers=workers,
        raw_compressai=raw,
        note=ENCODE_STAGE_NOTE,
    )
    if 1 in config.workers and 2 in config.workers:
        one, two = workers["1"], workers["2"]
        stage["speedup_2_over_1"] = {
            kind: ratio(_number(two[f"images_per_s_{kind}"]), _number(one[f"images_per_s_{kind}"]))
            for kind in ("excluding_startup", "including_startup")
        }
    if 1 in config.workers:
        including = _number(workers["1"]["images_per_s_including_startup"])
        stage["over_raw"] = ratio(including, n / raw_wall)
    return stage


def _number(value: object) -> float | None:
    """A throughput of a :data:`WorkersEntry` (a number, or None when not measured)."""
    return float(value) if isinstance(value, int | float) else None


def _workers_entry(times: EncodeStageTimes, workers: int, n: int) -> WorkersEntry:
    """One worker count's walls on N and N/2 images and what follows from them."""
    import torch

    half = max(1, n // 2)
    full_run, half_run = StageRun(workers, n), StageRun(workers, half)
    full = statistics.median(times.walls[full_run])
    part = statistics.median(times.walls[half_run])
    marginal = (n - half) / (full - part) if full > part else None
    effective = times.effective[full_run]
    return {
        f"wall_{n}_images": stats(times.walls[full_run]),
        f"wall_{half}_images": stats(times.walls[half_run]),
        "images_per_s_including_startup": round(n / full, 4),
        "images_per_s_excluding_startup": round(marginal, 4) if marginal else None,
        "startup_s_estimate": round(full - n / marginal, 3) if marginal else None,
        "effective_workers": {
            str(run.images): times.effective[run]
            for run in (full_run, half_run)
            if run in times.effective
        },
        "threads_per_worker": (
            max(1, (os.cpu_count() or 1) // effective) if effective > 1 else torch.get_num_threads()
        ),
        "per_job": {key: stats(times.job_s[workers][key]) for key in JOB_STAGES},
    }


ENCODE_STAGE_NOTE = (
    "each job encodes, decodes, takes the latents, computes PSNR/SSIM/MS-SSIM and "
    "writes the cache entry (one staged decode gives the image and the latents); 1 "
    "worker runs in this process with the bench's torch threads, N workers are "
    "processes (start method above) with cores // N threads each; the model is "
    "loaded when the cell is opened, before the timed stage, as in `run`. "
    "Excluding start-up: (N - N/2) / (wall(N) - wall(N/2)); including: N / wall(N). "
    "over_raw: 1 worker, N / wall(N), over N / wall of the raw CompressAI loop."
)


# --------------------------------------------------------------------------- runner


def bench_metrics(model: Any, config: BenchConfig, log: Callable[[str], None]) -> MetricsSection:
    """Each registered metric's cost on (original, decoded) pairs of this quality:
    median ms per image and per megapixel over ``reps`` passes (after one warm-up pass),
    each pass on fresh pairs, so the shared colour conversion counts in every metric.
    Beside it, the codec's encode time on the same images (median of ``reps`` encodes
    of each, after a warm-up encode) and what the ``fast`` and
    ``jpegai`` sets cost together, measured as a run computes them (one pass of the
    whole set per pair, the conversion shared), also as a fraction of that encode time;
    ``summed_ms_per_image`` is the sum of the set's per-metric figures."""
    from jpegai_eval.framework.api.metric_types import ImagePair, compute_metrics, select_metrics
    from jpegai_eval.framework.api.plugins import get_plugins

    images = bench_images(config, min(config.images, 2))
    reps = max(1, min(config.reps, 3))
    # The encode time: the median of ``reps`` encodes of each image, after a first
    # encode of each that warms up (and gives the decoded image).
    decoded = [model.decode(model.encode(image)) for image in images]
    encode_s = []
    for _ in range(reps):
        for image in images:
            t0 = time.perf_counter()
            model.encode(image)
            encode_s.append(time.perf_counter() - t0)
    megapixels = config.size * config.size / 1e6
    registry = list(get_plugins().metrics)
    per_metric: dict[str, MetricCost] = {}
    for metric in registry:
        if metric.unavailable_reason:
            per_metric[metric.id] = {"unavailable": metric.unavailable_reason}
            continue
        log(f"  metric {metric.id}")
        seconds = []
        for rep in range(reps + 1):
            pairs = [ImagePair(a, b) for a, b in zip(images, decoded, strict=True)]
            t0 = time.perf_counter()
            metric(pairs)
            if rep:  # the first pass warms up (imports, caches)
                seconds.append((time.perf_counter() - t0) / len(pairs))
        ms = 1000 * statistics.median(seconds)
        per_metric[metric.id] = {
            "ms_per_image": round(ms, 4),
            "ms_per_mpx": round(ms / megapixels, 1),
        }
    encode_ms = 1000 * statistics.median(encode_s)
    sets: dict[str, MetricSet] = {}
    for name in ("fast", "jpegai"):
        chosen = [m for m in select_metrics(name, registry) if "ms_per_image" in per_metric[m.id]]
        # What a run pays: the set in one pass over fresh pairs (the colour conversion
        # and PSNR-HVS/-M's shared pass once), median of ``reps`` after a warm-up.
        seconds = []
        for rep in range(reps + 1):
            pairs = [ImagePair(a, b) for a, b in zip(images, decoded, strict=True)]
            t0 = time.perf_counter()
            compute_metrics(chosen, pairs)
            if rep:
                seconds.append((time.perf_counter() - t0) / len(pairs))
        total = 1000 * statistics.median(seconds)
        sets[name] = {
            "metrics": [m.id for m in chosen],
            "ms_per_image": round(total, 2),
            "summed_ms_per_image": round(
                sum(per_metric[m.id].get("ms_per_image", 0.0) for m in chosen), 2
            ),
            "over_encode": round(total / encode_ms, 3) if encode_ms > 0 else None,
        }
    return MetricsSection(
        images=len(images),
        size=config.size,
        reps=reps,
        encode_ms_per_image=round(encode_ms, 2),
        metrics=per_metric,
        sets=sets,
    )


def run_bench(config: BenchConfig, log: Callable[[str], None] | None = None) -> BenchResult:
    """Every measurement ``config`` asks for, as one JSON-able dict."""
    import torch

    from jpegai_eval.tasks.training import resolve_device  # a torch.device

    config.check()
    log = log or (lambda _msg: None)
    threads = config.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    torch_device = resolve_device(config.device)
    cuda = torch_device.type == "cuda"
    codec = resolve_codec(config.codec)
    qualities = [codec.check_quality(q) for q in config.qualities]
    t_start = time.perf_counter()
    result: BenchResult = {
        "schema": SCHEMA,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "config": asdict(config),
        "machine": machine_info(threads, config.device),
        "codec": codec.key,
        "qualities": {},
    }
    with tempfile.TemporaryDirectory(prefix="jpegai-bench-") as tmp:
        folder = Path(tmp)
        for q in qualities:
            weights, described = materialise_weights(codec, q, config.weights, folder, config.seed)
            model = codec.load(q, weights=weights, device=str(torch_device))
            m = model.latent_spec.channels
            log(f"quality {q}: {described.split(':')[0]}, N={model.net.N}, M={m}")
            entry = QualityEntry(weights=described, N=int(model.net.N), M=m)
            need_stages = {"inference", "classifiers"} & set(config.sections)
            if need_stages:
                images = bench_images(config, config.images)
                files = [model.encode(im) for im in images]
                entry["bitstreams"] = bitstream_summary(model, files, config.size)
                log("  exporting h_s, g_s and the classifiers to ONNX")
                stages = Stages(
                    model,
                    config.size,
                    folder / f"onnx-q{q}",
                    config.device,
                    threads,
                    config.preset,
                    cuda,
                )
                entry["provider"] = stages.provider
                entry["checks"] = stages.check(files[0])
                if "inference" in config.sections:
                    entry["inference"] = bench_inference(stages, files, config, log)
                if "classifiers" in config.sections and "classifiers" not in result:
                    section = bench_classifiers(stages, config, log)
                    section["quality"] = q
                    spec = model.latent_spec
                    section["cresnet39_input_channels"] = spec.total_channels
                    result["classifiers"] = section
            if "metrics" in config.sections:
                entry["metrics"] = bench_metrics(model, config, log)
            if "encode" in config.sections and "encode" not in result:
                result["encode"] = bench_encode(codec, q, weights, config, folder, log)
            result["qualities"][str(q)] = entry
        if "training" in config.sections:
            result["training"] = bench_training(config, torch_device.type, folder, log)
    result["seconds"] = round(time.perf_counter() - t_start, 1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    result["machine"]["load_average_end"] = [round(x, 2) for x in load] if load else None
    result["targets"] = targets(result)
    return result


def bitstream_summary(model: Any, files: list[bytes], size: int) -> BitstreamSummary:
    """Rate of the bench's bitstreams and the count of entropy-decoded symbols of y_hat:
    M x (padded size / 16)^2."""
    bits = [8 * len(f) / (size * size) for f in files]
    padded = model.padded_size(size, size)
    return BitstreamSummary(
        images=len(files),
        size=size,
        padded=list(padded),
        bpp_mean=round(statistics.fmean(bits), 4),
        bytes_mean=round(statistics.fmean(len(f) for f in files), 1),
        y_symbols=model.latent_spec.channels * (padded[0] // 16) * (padded[1] // 16),
    )


def bench_training(
    config: BenchConfig, device_type: str, folder: Path, log: Callable[[str], None]
) -> TrainingSection:
    """The training section (:mod:`jpegai_eval.bench.training`): ``loader_per_core``
    with the paper preset's augmentation, and ``train_over_bare``."""
    from jpegai_eval.bench import training

    loader = training.loader_per_core(  # a pass is short: as many reps as batch 1's
        bench_images(config, config.loader_images),
        folder / "loader",
        preset="paper",
        reps=config.reps,
        warmup=config.warmup,
        seed=config.seed,
        log=log,
    )
    preset = config.train_preset
    train = training.train_over_bare(
        bench_images(config, min(config.images, 8)),
        preset=TRAIN_PRESET_AUTO[device_type] if preset == "auto" else preset,
        batch=config.train_batch,
        steps=config.train_steps,
        reps=config.batch_reps,
        warmup=min(config.warmup, 1),
        device=config.device,
        seed=config.seed,
        log=log,
    )
    return TrainingSection(loader_per_core=loader.to_json(), train_over_bare=train.to_json())


def targets(result: BenchResult) -> dict[str, Judgement]:
    """Each issue-#8 target with the measured value and pass/fail (None: not measured)."""
    out: dict[str, Judgement] = {}
    quality1 = result["qualities"].get("1")
    q1 = quality1.get("inference") if quality1 else None
    value = (
        q1["batches"]["1"]["pixel_over_compressed"]["best"] if q1 and "1" in q1["batches"] else None
    )
    out["pixel_over_compressed"] = judge("pixel_over_compressed", value)
    section = result.get("classifiers")
    clf = section["batches"].get("1") if section else None
    ratios = clf["torch_over_onnxruntime"].values() if clf else []
    values = [v for v in ratios if v is not None]
    out["ort_over_torch"] = judge("ort_over_torch", min(values) if values else None)
    enc = result.get("encode")
    out["encode_overhead"] = judge("encode_overhead", enc["overhead"] if enc else None)
    speed = enc["encode_stage"].get("speedup_2_over_1") if enc else None
    out["workers_speedup"] = judge("workers_speedup", speed["excluding_startup"] if speed else None)
    over_raw = enc["encode_stage"].get("over_raw") if enc else None
    out["encode_stage_over_raw"] = judge("encode_stage_over_raw", over_raw)
    trained = result.get("training")
    speedup = trained["loader_per_core"]["decode_once_over_old"] if trained else None
    out["loader_speedup"] = judge("loader_speedup", speedup)
    if trained and not trained["loader_per_core"]["same_batches"]:
        # A faster loader that feeds other batches is no speed-up of the same loader.
        judged = out["loader_speedup"]
        judged["passed"] = False
        judged["what"] += " -- FAILED: the two paths gave different batches"
    over_bare = trained["train_over_bare"]["value"] if trained else None
    out["train_over_bare"] = judge("train_over_bare", over_bare)
    return out


# ------------------------------------------------------------------------ run folder


def run_dir_settings(run_dir: str | os.PathLike[str]) -> tuple[str, list[int], str | None]:
    """(codec, qualities, weights) of the run in ``run_dir``, from its ``run.json``."""
    from jpegai_eval.framework.run.plan import RunConfig

    path = Path(run_dir) / "run.json"
    try:
        info = json.loads(path.read_text())
        config = info["config"]
        codecs = list(config["codecs"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserError(
            f"--run-dir {str(run_dir)!r} has no readable run.json with config.codecs "
            f"({type(exc).__name__}: {exc}). Give the output folder of `jpegai-eval run`."
        ) from None
    errors = []
    for text in codecs:
        try:
            codec = resolve_codec(
                text
                if "/" in text
                else f"{text}/{config['backend']}"
                if config.get("backend")
                else text
            )
        except UserError as exc:
            errors.append(exc.message)
            continue
        qualities = config.get("qualities") or [q for q in (1, 4, 8) if q in codec.qualities]
        rc = RunConfig(codecs=codecs, task=config.get("task", ""), weights=config.get("weights"))
        return codec.key, [int(q) for q in qualities], rc.weights_for(codec)
    raise UserError(
        f"The run in {str(run_dir)!r} has no CompressAI hyperprior codec to benchmark "
        f"(codecs: {', '.join(codecs)}). {' '.join(errors[:1])}"
    )


def write_json(result: BenchResult, path: str | os.PathLike[str]) -> Path:
    """Write a bench result (:func:`jpegai_eval.framework.run.runfolder.write_json`)."""
    from jpegai_eval.framework.run.runfolder import write_json as write

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    return write(target, result, sort_keys=False)  # keeps the targets in their order
