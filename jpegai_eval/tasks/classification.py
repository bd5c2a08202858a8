"""What every image-classification task shares: ResNet-50 on pixels, cResNet-39 on
the compressed domain, their initialisation, training and evaluation inputs.

A task built on :class:`ClassificationTask` says only where its data is (its
``classes``, ``samples`` and dataset ``options``); MINC-2500
(:mod:`~jpegai_eval.tasks.minc`) and ImageFolder (:mod:`~jpegai_eval.tasks.imagefolder`)
both do.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import LatentSpec, Task
from jpegai_eval.framework.io.remote import RemoteFile

if TYPE_CHECKING:
    import numpy as np
    from torch import nn

    from jpegai_eval.framework.run.scoring import EvalResult
    from jpegai_eval.tasks.models import InitReport
    from jpegai_eval.tasks.training import Item, TrainResult


class ClassificationTask(Task):
    """A :class:`~jpegai_eval.framework.api.types.Task` whose classifiers are the paper's:
    ResNet-50 (pixel domain) and cResNet-39 (latent domain), with ``len(classes)``
    outputs, trained by :func:`jpegai_eval.tasks.training.train_classifier`."""

    presets = ("paper", "quick", "smoke")

    def remote_files(self, **options: Any) -> list[RemoteFile]:
        """The torchvision ImageNet weights the classifiers start from (the preset's
        default or ``imagenet_weights``: ``IMAGENET1K_V1`` / ``IMAGENET1K_V2``), if any."""
        from jpegai_eval.tasks import imagenet

        variant = imagenet.variant_for(options.get("imagenet_weights"), options.get("preset"))
        return [imagenet.imagenet_file(variant)] if variant is not None else []

    # -- classifiers -------------------------------------------------------------------
    def build_classifier(
        self, domain: str, latent_spec: LatentSpec | None = None, *, preset: str | None = None
    ) -> nn.Module:
        """ResNet-50 / cResNet-39 at the width of ``preset`` (the paper's without one)."""
        from jpegai_eval.tasks import models
        from jpegai_eval.tasks.training import get_preset

        width = get_preset(preset).width if preset is not None else 1.0
        return models.build_classifier(
            domain, latent_spec, num_classes=len(self.classes), width=width
        )

    def classifier_init(self, preset: str, imagenet_weights: str | None) -> tuple[str | None, str]:
        """torchvision's ResNet-50 ImageNet weights (IMAGENET1K_V1) under the paper
        preset, from scratch under the others, unless --imagenet-weights says otherwise
        (see :func:`jpegai_eval.tasks.imagenet.resolve_imagenet_weights`)."""
        from jpegai_eval.tasks.imagenet import resolve_imagenet_weights

        init = resolve_imagenet_weights(imagenet_weights, preset)
        return init.path, init.label

    def init_classifier(
        self, model: nn.Module, imagenet_weights: str | None = None, *, domain: str
    ) -> InitReport:
        """Load ImageNet weights into ``model``, a classifier of ``domain`` (or keep its
        initialisation); a report."""
        from jpegai_eval.tasks import imagenet, models

        return models.init_from_imagenet(
            model, imagenet.checkpoint_for_domain(imagenet_weights, domain)
        )

    def train(
        self,
        model: nn.Module,
        items: list[tuple[Path, int]],
        *,
        preset: str = "paper",
        domain: str = "pixel",
        out_dir: Path,
        device: str = "auto",
        workers: int | None = None,
        seed: int = 0,
        ddp: bool = False,
        deterministic: bool | None = None,
        latent_spec: LatentSpec | None = None,
    ) -> TrainResult:
        """Train in place; see :func:`jpegai_eval.tasks.training.train_classifier`.

        Returns a :class:`~jpegai_eval.tasks.training.TrainResult` (``history``,
        ``as_dict()``); checkpoints into ``out_dir`` and resumes from it."""
        from jpegai_eval.tasks import training

        return training.train_classifier(
            model,
            items,
            preset,
            domain,
            out_dir,
            device=device,
            workers=workers,
            seed=seed,
            ddp=ddp,
            deterministic=deterministic,
            latent_spec=latent_spec,
        )

    def data_parallel(self, preset: str, world_size: int) -> dict[str, object]:
        """``--ddp``: the preset's batch is the global batch, split evenly over the
        ranks; the learning rate stays the preset's
        (:func:`jpegai_eval.tasks.data_parallel.rule`)."""
        from jpegai_eval.tasks import data_parallel, training

        p = training.get_preset(preset)
        return dict(data_parallel.rule(p.batch_size, p.lr, world_size, p.name))

    def evaluate(
        self,
        model: nn.Module,
        items: list[Item],
        preset: str,
        domain: str,
        device: str | None = "auto",
        workers: int | None = None,
        latent_spec: LatentSpec | None = None,
    ) -> EvalResult:
        """:func:`jpegai_eval.tasks.training.evaluate` (PyTorch Top-1 / Top-5)."""
        from jpegai_eval.tasks import training

        return training.evaluate(
            model, items, preset, domain, device=device, workers=workers, latent_spec=latent_spec
        )

    def eval_batch(
        self, sources: list[Path], domain: str, preset: str, latent_spec: LatentSpec | None = None
    ) -> np.ndarray:
        """float32 (N, C, H, W) evaluation inputs (resize, center crop) for ``sources``
        (latent domain: ``latent_spec``'s tensors, at the size for its stride)."""
        import functools

        import numpy as np

        from jpegai_eval.tasks import training

        transform = training.eval_transform(domain, preset, latent_spec)
        load = training.load_image
        if domain == "latent":
            layout = training.latent_layout(latent_spec)
            load = functools.partial(training.load_latents, layout=layout)
        return np.stack([transform(load(source)) for source in sources])

    def classifier_info(
        self, model: nn.Module, domain: str, latent_spec: LatentSpec | None, preset: str
    ) -> dict[str, object]:
        """Parameters and MACs of ``model`` at the input size of ``preset`` (latent
        domain: the size for ``latent_spec``'s stride, recorded as ``latent_input``)."""
        from jpegai_eval.tasks import models, training

        p = training.get_preset(preset)
        size = p.input_size(domain)
        channels = 3
        if domain == "latent" and latent_spec is not None:
            channels = latent_spec.total_channels
            size = training.latent_preset(p, latent_spec).latent_crop
        c = models.complexity(model, (channels, size, size))
        info: dict[str, object] = {
            "params": c.parameters,
            "macs": c.macs,
            "input": c.as_dict()["input"],
            "conv_layers": c.conv_layers,
        }
        if domain == "latent":
            info["latent_input"] = size
        return info
