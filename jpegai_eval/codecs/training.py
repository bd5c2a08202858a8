"""Training a CompressAI codec the way CompressAI's ``examples/train.py`` does.

Any codec that exposes a CompressAI ``CompressionModel`` trains here: every built-in
CompressAI codec (``hyperprior-msssim`` / ``-mse`` and the six zoo families of
:mod:`.compressai_zoo`, by id or alias) and a plugin codec that implements
:class:`TrainableCodec` (``metric``, ``lmbda(quality)``, ``training_config(quality)``
and ``network(n, m)``, a fresh ``CompressionModel``; optionally ``architecture``, the
name written into the checkpoint).

Rate-distortion loss ``lambda * D + bpp`` with CompressAI's lambda ladder for the
codec's metric (D = ``1 - MS-SSIM`` or ``255^2 * MSE``), Adam on the network
(lr 1e-4, gradient norm clipped at 1) and a separate Adam on the entropy bottleneck's
quantiles driven by the auxiliary loss (lr 1e-3). Patches are random crops with random
horizontal flips. Several ``--data`` folders share the batches equally (each patch picks a
folder first, then an image in it), so a few large photographs weigh as much as many
small textures.

``--N``/``--M`` fix the architecture (default: CompressAI's zoo configuration for the
quality, times ``--config-scale``); ``--init`` starts from another checkpoint of the same
shape, the usual way to train a ladder of qualities: one long run, then a short
fine-tune per lambda; ``--transfer`` starts the tensors of the same name and shape from
a checkpoint of another family (a mean-scale model from a scale hyperprior).

The output file is a weights checkpoint usable at once with ``--weights FILE``. Every
``checkpoint_every`` steps the full training state (network, both optimizers, step,
random state) is saved next to it as ``<OUT>.train-state.pt``; running the same command
again resumes from there.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, runtime_checkable

from jpegai_eval.framework.errors import DatasetError, UsageError
from jpegai_eval.framework.io.safeload import torch_load

if TYPE_CHECKING:
    import torch


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
STATE_SUFFIX = ".train-state.pt"
#: Decoded training images are kept in memory up to this many bytes.
CACHE_BYTES = 1 << 30


@dataclass
class TrainConfig:
    codec_id: str
    quality: int
    data: tuple[Path, ...]
    out: Path
    steps: int = 2000
    patch: int = 128
    batch: int = 8
    config_scale: float = 1.0
    n: int | None = None
    m: int | None = None
    init: Path | None = None
    transfer: Path | None = None
    lr: float = 1e-4
    aux_lr: float = 1e-3
    seed: int = 0
    checkpoint_every: int = 100
    half: bool = False
    device: str = "cpu"
    progress: bool = True


def state_path(out: Path) -> Path:
    return out.with_name(out.name + STATE_SUFFIX)


@runtime_checkable
class TrainableCodec(Protocol):
    """What a codec offers for ``codec train`` (module docstring)."""

    id: str
    metric: str

    def check_quality(self, quality: int) -> int: ...

    def lmbda(self, quality: int) -> float: ...

    def training_config(self, quality: int) -> tuple[int, int]: ...

    def network(self, n: int, m: int) -> Any: ...


def trainable_codec(codec_id: str) -> TrainableCodec:
    """The registered codec ``codec_id`` (an id or alias) if it can be trained here."""
    from jpegai_eval.framework.api.plugins import get_plugins

    codecs = get_plugins().codecs
    codec = codecs.resolve(codec_id)
    if not isinstance(codec, TrainableCodec) or codec.metric not in ("ms-ssim", "mse"):
        can = [c.id for c in codecs if isinstance(c, TrainableCodec)]
        raise UsageError(
            f"Codec {codec.key} cannot be trained by `codec train`: it exposes no CompressAI "
            "network (a codec trains here when it has metric, lmbda(quality), "
            "training_config(quality) and network(n, m)). Trainable codecs: "
            f"{', '.join(dict.fromkeys(can))}."
        )
    return codec


def scaled_config(
    quality: int, scale: float, codec: TrainableCodec | None = None
) -> tuple[int, int]:
    """The codec's (N, M) for ``quality`` (CompressAI's zoo configuration; default: the
    scale hyperprior's) times ``scale`` (at least 8 each)."""
    from jpegai_eval.codecs.compressai_hyperprior import ZOO_CONFIGS

    if not 0 < scale <= 4:
        raise UsageError(f"--config-scale must be in (0, 4]; got {scale}.")
    n, m = ZOO_CONFIGS[quality] if codec is None else codec.training_config(quality)
    return max(8, round(n * scale)), max(8, round(m * scale))


def training_images(data: Path) -> list[Path]:
    """The training images under ``data`` (see :func:`dataset_images`)."""
    return dataset_images(data, "train")


def architecture(cfg: TrainConfig, codec: TrainableCodec | None = None) -> tuple[int, int]:
    """(N, M): ``--N``/``--M`` where given, else the zoo's for the quality, scaled."""
    n, m = scaled_config(cfg.quality, cfg.config_scale, codec)
    n, m = cfg.n or n, cfg.m or m
    if n < 8 or m < 8:
        raise UsageError(f"--N and --M must be at least 8; got {n}, {m}.")
    return n, m


def architecture_name(codec: TrainableCodec) -> str:
    """The network's name in the checkpoint: CompressAI's zoo name for the built-in
    codecs, a plugin codec's ``architecture`` attribute, else its id."""
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.codecs.weights import ARCHITECTURE

    family = getattr(codec, "family", None)
    if family is not None:
        return str(family.name)
    if isinstance(codec, CompressAIHyperprior):
        return ARCHITECTURE
    return str(getattr(codec, "architecture", codec.id))


def load_init(n: int, m: int, path: Path, codec: TrainableCodec | None = None) -> tuple[Any, str]:
    """The codec's network (default: a ScaleHyperprior) holding checkpoint ``path``'s
    weights (it must be N=n, M=m), and their weights id for the training record."""
    from jpegai_eval.codecs.weights import build_model, read_checkpoint, weights_id

    if codec is not None and architecture_name(codec) != "bmshj2018-hyperprior":
        weights = read_checkpoint(path, architecture_name(codec))
        net = codec.network(n, m)
        try:
            net.load_state_dict(dict(weights.state_dict))
        except (RuntimeError, KeyError, ValueError) as exc:
            first = " ".join(str(exc).strip().splitlines()[:2])[:300]
            raise UsageError(
                f"--init {str(path)!r} does not fit the {architecture_name(codec)} network "
                f"this training builds (N={n}, M={m}): {first}. Give --N and --M of that "
                "checkpoint, or an --init checkpoint of the same shape."
            ) from None
        net.update(force=True)
        return net, weights_id(net).hex()
    weights = read_checkpoint(path)
    if (weights.N, weights.M) != (n, m):
        raise UsageError(
            f"--init {str(path)!r} is a model of N={weights.N}, M={weights.M}; this training "
            f"builds N={n}, M={m}. Give --N {weights.N} --M {weights.M}, or an --init "
            "checkpoint of the same shape."
        )
    net = build_model(weights)
    return net, weights_id(net).hex()


#: Never transferred: CompressAI's entropy-coding tables (rebuilt by ``update()``) and
#: its constant bounds (``likelihood_lower_bound.bound`` is 1e-9, which a float16
#: checkpoint stores as 0: the rate of an unlikely y would become infinite).
_CODING_TABLES = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table", ".bound")


def transfer_weights(net: Any, path: Path) -> dict[str, object]:
    """Start ``net`` from the tensors of checkpoint ``path`` (any CompressAI family)
    that have the same name and shape -- e.g. a mean-scale hyperprior's g_a, g_s, h_a
    and factorized prior from a scale hyperprior of the same N and M -- leaving the
    others (its h_s) as initialised. Returns what was taken, for the training record."""
    import hashlib

    import torch

    from jpegai_eval.codecs.weights import read_checkpoint

    state = read_checkpoint(path, architecture=None).state_dict
    own = net.state_dict()
    taken = {
        k: v
        for k, v in state.items()
        if k in own and own[k].shape == v.shape and not k.endswith(_CODING_TABLES)
    }
    if not taken:
        raise UsageError(
            f"--transfer {str(path)!r} has no tensor of this network's names and shapes "
            f"(N, M or the family differ): give a checkpoint of the same N and M."
        )
    torch.nn.Module.load_state_dict(net, taken, strict=False)  # not CompressAI's resizing
    fresh = sorted(k for k in own if k not in taken and not k.endswith(_CODING_TABLES))
    return {
        "file_sha256": hashlib.sha256(Path(path).read_bytes()).hexdigest(),
        "tensors_taken": len(taken),
        "tensors_fresh": fresh,
    }


def dataset_images(data: Path, split: str = "train") -> list[Path]:
    """Images of ``split`` under ``data``: MINC's ``labels/<split>1.txt`` when present,
    else every *.jpg / *.jpeg / *.png below ``data``."""
    data = Path(data)
    if not data.is_dir():
        raise DatasetError(
            f"Data folder {str(data)!r} does not exist. Give --data a folder of images, or "
            "a MINC-2500 root (with labels/train1.txt)."
        )
    split_file = data / "labels" / f"{split}1.txt"
    if split_file.is_file():
        lines = [ln.strip() for ln in split_file.read_text().splitlines() if ln.strip()]
        paths = [data / ln for ln in lines]
        missing = [p for p in paths if not p.is_file()]
        if missing:
            raise DatasetError(
                f"{str(split_file)!r} lists {len(missing)} image(s) that do not exist, e.g. "
                f"{str(missing[0])!r}. Re-create or re-download the dataset."
            )
    elif (data / "labels").is_dir():
        raise DatasetError(
            f"{str(data)!r} looks like a MINC-2500 root but has no labels/{split}1.txt. "
            "Give a complete dataset root, or a plain folder of images."
        )
    else:
        paths = sorted(
            p for p in data.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()
        )
    if not paths:
        raise DatasetError(
            f"No images in {str(data)!r}: found neither labels/{split}1.txt nor any "
            "*.jpg / *.png file. Point --data at a folder of images."
        )
    return paths


class PatchSampler:
    """Random ``patch`` x ``patch`` crops (and flips) of the training images. ``sources``
    is one list of images per data folder; each patch picks a folder uniformly, then an
    image in it (one folder: an image uniformly, as before)."""

    def __init__(self, sources: list[list[Path]], patch: int, generator: Any) -> None:
        self.sources = sources
        self.paths = [p for s in sources for p in s]
        self._offsets = [sum(len(s) for s in sources[:i]) for i in range(len(sources))]
        self.patch = patch
        self.generator = generator
        self._cache: dict[int, torch.Tensor] = {}
        self._cached_bytes = 0

    def _image(self, index: int) -> torch.Tensor:
        import numpy as np
        import torch
        from PIL import Image

        if index in self._cache:
            return self._cache[index]
        from jpegai_eval.framework.io.image_io import read_image

        array = read_image(self.paths[index])
        h, w = array.shape[:2]
        if min(h, w) < self.patch:  # upscale small images so a patch fits
            s = self.patch / min(h, w)
            size = (max(self.patch, round(w * s)), max(self.patch, round(h * s)))
            array = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BICUBIC))
        tensor = torch.from_numpy(np.array(array, dtype=np.uint8)).permute(2, 0, 1)
        if self._cached_bytes + tensor.numel() <= CACHE_BYTES:
            self._cache[index] = tensor
            self._cached_bytes += tensor.numel()
        return tensor

    def batch(self, size: int) -> torch.Tensor:
        import torch

        g = self.generator
        if len(self.sources) == 1:
            picks = torch.randint(len(self.paths), (size,), generator=g).tolist()
        else:
            picks = []
            for _ in range(size):
                k = int(torch.randint(len(self.sources), (1,), generator=g))
                i = int(torch.randint(len(self.sources[k]), (1,), generator=g))
                picks.append(self._offsets[k] + i)
        crops = []
        for index in picks:
            img = self._image(index)
            _, h, w = img.shape
            top = int(torch.randint(h - self.patch + 1, (1,), generator=g))
            left = int(torch.randint(w - self.patch + 1, (1,), generator=g))
            crop = img[:, top : top + self.patch, left : left + self.patch]
            if bool(torch.rand((), generator=g) < 0.5):
                crop = crop.flip(-1)
            crops.append(crop)
        return torch.stack(crops).float().div_(255.0)


class Forward(TypedDict):
    """What a CompressAI network's ``forward`` returns."""

    x_hat: torch.Tensor
    likelihoods: dict[str, torch.Tensor]


def rd_loss(out: Forward, x: torch.Tensor, lmbda: float, metric: str) -> dict[str, torch.Tensor]:
    """CompressAI's RateDistortionLoss (``compressai.losses``); MS-SSIM's window shrinks
    for patches of 160 px or less, as in :mod:`jpegai_eval.framework.quality.metrics`."""
    import torch
    from pytorch_msssim import ms_ssim

    from jpegai_eval.framework.quality.metrics import msssim_window

    n, _, h, w = x.shape
    num_pixels = n * h * w
    bpp = sum(
        torch.log(lk).sum() / (-math.log(2) * num_pixels) for lk in out["likelihoods"].values()
    )
    result: dict[str, torch.Tensor] = {"bpp_loss": bpp}
    if metric == "ms-ssim":
        score = ms_ssim(out["x_hat"], x, data_range=1.0, win_size=msssim_window(h, w))
        result["ms_ssim"] = score
        distortion = 1 - score
    else:
        mse = torch.nn.functional.mse_loss(out["x_hat"], x)
        result["mse"] = mse
        distortion = 255**2 * mse
    result["loss"] = lmbda * distortion + bpp
    return result


@dataclass(frozen=True)
class Recipe:
    """What :func:`train` checked in a :class:`TrainConfig`: the metric, lambda, (N, M)
    and the training images of each ``--data`` folder."""

    metric: str
    lmbda: float
    n: int
    m: int
    sources: list[list[Path]]
    #: The codec trained (its id, never an alias, goes into the checkpoint).
    codec: TrainableCodec | None = None

    @property
    def codec_id(self) -> str:
        return self.codec.id if self.codec is not None else ""

    @property
    def is_hyperprior(self) -> bool:
        """The scale hyperprior (whose training records keep their original shape)."""
        from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior

        return type(self.codec) is CompressAIHyperprior


def check_config(cfg: TrainConfig) -> Recipe:
    """Check ``cfg`` (codec, steps, batch, patch, architecture, data) before any work."""
    codec = trainable_codec(cfg.codec_id)
    codec.check_quality(cfg.quality)  # a UsageError naming the codec's qualities
    metric = codec.metric
    lmbda = codec.lmbda(cfg.quality)
    if cfg.steps < 1 or cfg.batch < 1:
        raise UsageError(f"--steps and --batch must be at least 1; got {cfg.steps}, {cfg.batch}.")
    if cfg.patch < 64 or cfg.patch % 64:
        raise UsageError(
            f"--patch must be a multiple of 64 (the hyperprior's padding multiple); got "
            f"{cfg.patch}."
        )
    n, m = architecture(cfg, codec)
    if not cfg.data:
        raise UsageError("Give at least one --data folder.")
    return Recipe(metric, lmbda, n, m, [training_images(d) for d in cfg.data], codec)


class CodecTrainer:
    """One codec training: the network and its two Adam optimizers (network, entropy
    bottleneck quantiles), the patch sampler, the settings a resume must match;
    :meth:`resume` from ``<OUT>.train-state.pt``, :meth:`step` (ONE optimisation step on
    a batch), :meth:`save_state`, :meth:`fit` (the loop) and :meth:`finish` (write
    ``cfg.out``)."""

    def __init__(self, cfg: TrainConfig, recipe: Recipe | None = None) -> None:
        """Build the network (``cfg.init``'s weights or a fresh one) and its optimizers;
        ``recipe``: ``cfg`` checked (:func:`check_config`; None: checked here)."""
        import torch

        recipe = recipe or check_config(cfg)
        self.cfg, self.recipe = cfg, recipe
        cfg.out.parent.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(cfg.seed)
        self.generator = torch.Generator().manual_seed(cfg.seed)
        init_id = None
        codec = recipe.codec if recipe.codec is not None else trainable_codec(cfg.codec_id)
        transferred: dict[str, object] | None = None
        if cfg.init is not None:
            net, init_id = load_init(recipe.n, recipe.m, cfg.init, codec)
        else:
            net = codec.network(recipe.n, recipe.m)
            if cfg.transfer is not None:
                transferred = transfer_weights(net, cfg.transfer)
        self.net = net.to(cfg.device)
        named = dict(self.net.named_parameters())
        aux = sorted(k for k in named if k.endswith(".quantiles"))
        main = sorted(k for k in named if not k.endswith(".quantiles"))
        self.optimizer = torch.optim.Adam([named[k] for k in main], lr=cfg.lr)
        self.aux_optimizer = torch.optim.Adam([named[k] for k in aux], lr=cfg.aux_lr)
        self.settings = _settings(cfg, recipe, init_id)
        if transferred is not None:
            self.settings["transfer"] = transferred
        self.state_file = state_path(cfg.out)
        self.steps_done = 0
        self.elapsed = 0.0
        self.skipped = 0
        self.last: dict[str, float] = {}

    def resume(self) -> None:
        """Continue from the training state file, if any: the network, both optimizers,
        the random state, the step and the time. Other settings are a UsageError."""
        import torch

        spath = self.state_file
        if not spath.is_file():
            return
        state = torch_load(
            spath, "the codec training state", "Delete that file to start the training over."
        )
        if not isinstance(state, dict):
            state = {}
        if state.get("settings") != self.settings:
            raise UsageError(
                f"{str(spath)!r} holds a training run with other settings "
                f"({state.get('settings')}); this command asks for {self.settings}. Delete "
                "that file to start over, or rerun with the same options to resume."
            )
        self.net.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.aux_optimizer.load_state_dict(state["aux_optimizer"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        self.steps_done = int(state["step"])
        self.elapsed = float(state.get("elapsed", 0.0))

    def save_state(self) -> None:
        """Write the full training state (atomically) for a later resume."""
        import torch

        from jpegai_eval.framework.io.image_io import atomic_output

        state = {
            "settings": self.settings,
            "state_dict": self.net.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "aux_optimizer": self.aux_optimizer.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "step": self.steps_done,
            "elapsed": self.elapsed,
        }
        with atomic_output(self.state_file) as tmp:
            torch.save(state, tmp)

    def step(self, x: torch.Tensor) -> dict[str, float] | None:
        """ONE optimisation step on the batch ``x`` (N, 3, H, W floats in [0, 1] on the
        device): the RD loss, backward, gradient norm clipped at 1, Adam; then the
        auxiliary loss and its Adam. Returns the losses as floats, or None when the
        loss was not finite (the step is skipped, nothing is applied)."""
        import torch

        self.optimizer.zero_grad()
        self.aux_optimizer.zero_grad()
        out = self.net(x)
        losses = rd_loss(out, x, self.recipe.lmbda, self.recipe.metric)
        if not bool(torch.isfinite(losses["loss"])):
            return None
        losses["loss"].backward()
        torch.nn.utils.clip_grad_norm_(self.net.parameters(), 1.0)
        self.optimizer.step()
        aux_loss = self.net.aux_loss()
        aux_loss.backward()
        self.aux_optimizer.step()
        last = {k: float(v.detach()) for k, v in losses.items()}
        last["aux"] = float(aux_loss.detach())
        return last

    def fit(self) -> None:
        """Resume, then train up to ``cfg.steps``, saving the state every
        ``checkpoint_every`` steps and at the end."""
        from jpegai_eval.framework.io.progress import progress

        cfg = self.cfg
        self.resume()
        sampler = PatchSampler(self.recipe.sources, cfg.patch, self.generator)
        self.net.train()
        bar = progress(
            total=cfg.steps,
            initial=min(self.steps_done, cfg.steps),
            disable=not cfg.progress,
            desc=f"{cfg.codec_id} q{cfg.quality}",
            unit="step",
        )
        t_start = time.perf_counter() - self.elapsed
        while self.steps_done < cfg.steps:
            losses = self.step(sampler.batch(cfg.batch).to(cfg.device))
            self.steps_done += 1
            if losses is None:
                self._skipped_one()
                continue
            self.last = losses
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss']:.3f}", bpp=f"{losses['bpp_loss']:.3f}")
            self.elapsed = time.perf_counter() - t_start
            if self.steps_done % cfg.checkpoint_every == 0 or self.steps_done == cfg.steps:
                self.save_state()
                if not cfg.progress:
                    self._print_step()
        bar.close()

    def _skipped_one(self) -> None:
        """Count a batch whose loss was not finite: MS-SSIM's contrast terms can go
        negative and NaN the loss at high lambda, and one such batch would turn every
        weight into NaN. Too many of them: the training diverged, a UsageError."""
        self.skipped += 1
        if self.skipped > max(10, self.cfg.steps // 100):
            raise UsageError(
                f"The loss was NaN or infinite on {self.skipped} batches; the training of "
                f"{self.cfg.out} diverged. Lower --lr, or delete {self.state_file} to start "
                "over."
            )

    def _print_step(self) -> None:
        cfg, last = self.cfg, self.last
        print(
            f"{cfg.codec_id} q{cfg.quality} step {self.steps_done}/{cfg.steps} "
            f"loss {last['loss']:.4f} bpp {last['bpp_loss']:.4f} "
            f"aux {last['aux']:.1f} {self.elapsed:.0f}s",
            file=sys.stderr,
            flush=True,
        )

    def finish(self) -> dict[str, object]:
        """Update the entropy coders' tables and write ``cfg.out`` (a weights
        checkpoint with its training record); return that record."""
        from jpegai_eval.codecs.weights import save_checkpoint

        self.net.eval()
        self.net.update(force=True)
        meta = dict(
            self.settings,
            steps=self.steps_done,
            skipped_nonfinite_steps=self.skipped,
            train_seconds=round(self.elapsed, 1),
            images=sum(len(s) for s in self.recipe.sources),
        )
        meta.update({f"final_{k}": round(v, 5) for k, v in self.last.items()})
        codec = self.recipe.codec or trainable_codec(self.cfg.codec_id)
        save_checkpoint(
            self.cfg.out, self.net, meta, half=self.cfg.half, architecture=architecture_name(codec)
        )
        return meta


def _settings(cfg: TrainConfig, recipe: Recipe, init_id: str | None) -> dict[str, object]:
    """What a resumed training must share with the one that wrote the state file."""
    settings: dict[str, object] = {
        "codec": recipe.codec_id or cfg.codec_id,
        "quality": cfg.quality,
        "metric": recipe.metric,
        "lmbda": recipe.lmbda,
        "patch": cfg.patch,
        "batch": cfg.batch,
        "config_scale": cfg.config_scale,
        "lr": cfg.lr,
        "seed": cfg.seed,
        "N": recipe.n,
        "M": recipe.m,
    }
    if recipe.codec is not None and not recipe.is_hyperprior:
        settings["architecture"] = architecture_name(recipe.codec)
    if len(cfg.data) > 1:
        settings["data_folders"] = len(cfg.data)
    if init_id is not None:
        settings["init_weights_id"] = init_id
    return settings


def train(cfg: TrainConfig) -> dict[str, object]:
    """Train (or resume) and write ``cfg.out``; return a summary of the run."""
    trainer = CodecTrainer(cfg)
    trainer.fit()
    return trainer.finish()


def config_from_options(**options: Any) -> TrainConfig:
    """A TrainConfig from CLI options (paths converted, unknown keys refused)."""
    data = options["data"]
    data = [data] if isinstance(data, str | os.PathLike) else list(data)
    options["data"] = tuple(Path(d) for d in data)
    options["out"] = Path(os.fspath(options["out"]))
    for key in ("init", "transfer"):
        if options.get(key) is not None:
            options[key] = Path(os.fspath(options[key]))
    if options.get("init") is not None and options.get("transfer") is not None:
        raise UsageError("Give --init or --transfer, not both.")
    return TrainConfig(**options)
