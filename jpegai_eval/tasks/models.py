"""The paper's classifiers (Deng & Karam, Table 1), built from torchvision's ResNet parts.

ResNet-50 with a deep stem (pixel domain)::

    image 3xHxW ─ conv3x3/2,64 ─ conv3x3,64 ─ conv3x3,128 ─ maxpool3x3/2      (stem)
      ─ conv2_x (layer1) ─ conv3_x (layer2) ─ conv4_x (layer3) ─ conv5_x (layer4)
      ─ average pool ─ fc 23

cResNet-39 (compressed domain, Torfason et al. 2018; Section 3 of the paper)::

    x = concat(y_hat, sigma_hat)  (M + Ms) x h x w      one input tensor
      y_hat     ─ bottleneck adapter [1x1,32; 3x3,32; 1x1,128] ─┐
      sigma_hat ─ bottleneck adapter [1x1,32; 3x3,32; 1x1,128] ─┴ concat 256
      ─ conv3_x (layer2, first block at stride 1) ─ conv4_x (layer3) ─ conv5_x (layer4)
      ─ average pool ─ fc 23

A 28x28 latent (a 448x448 image at stride 16, or the paper's resized latents) runs
conv3_x at 28x28, where ResNet-50's conv3_x runs on a 224x224 image. conv3_x..conv5_x
hold 4 + 6 + 3 bottlenecks of 3 convolutions: the 39 layers of the name.

Any compressed domain (:class:`~jpegai_eval.framework.api.types.LatentSpec`): one
adapter branch per declared tensor, in the spec's order (``y_hat``, ``sigma_hat`` when
declared, then the spec's ``others``), each the same bottleneck [1x1,32; 3x3,32;
1x1,128] whatever its input channels, concatenated into ``n x 128`` channels before
conv3_x (whose first block's projection shortcut takes any width). So the paper's
two tensors give 256, a ŷ-only codec (a factorized prior) 128 and a mean-scale codec
(ŷ, σ̂, μ̂) 384; everything after the concatenation is Table 1's. The branches are
``adapter_y`` (ŷ), ``adapter_sigma`` (σ̂) and ``adapter_<name>`` for the others
(``adapter_mu_hat``), so a ŷ + σ̂ network, its parameter names and its initialisation
are the paper's. Every tensor reaches the classifier on ŷ's grid (the data path
resizes one of another stride, :func:`jpegai_eval.tasks.training.stack_latents`).

Width: ``width`` scales every layer's channels (the stem, the bottlenecks' inner and
output widths, the adapters) by the same factor, rounded, at least 8; depth, blocks,
strides and kernels stay Table 1's. ``width=1`` is the paper's model. The ``quick``
preset uses 0.25 (about 1/16 of the multiply-accumulates), so the demo trains on two
CPU cores; the preset records it and every result names it.

Both models take ONE input tensor, so that ONNX export and onnxruntime see the same
signature in both domains. Module names follow torchvision's (``layer1`` ...
``layer4``, ``fc``) so ImageNet checkpoints load by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import torch
from torch import nn
from torchvision.models.resnet import Bottleneck, conv1x1

from jpegai_eval.framework.api.types import DOMAINS, LatentSpec
from jpegai_eval.framework.errors import UsageError, WeightsError, describe_load_error
from jpegai_eval.framework.io.safeload import load_plain
from jpegai_eval.tasks.imagenet import DEFAULT_VARIANT, VARIANTS

NUM_CLASSES = 23
#: torchvision's ResNet-50 IMAGENET1K_V1 checkpoint, the paper preset's default.
TORCHVISION_RESNET50_URL = VARIANTS[DEFAULT_VARIANT][1]


def _make_layer(inplanes: int, planes: int, blocks: int, stride: int) -> nn.Sequential:
    """torchvision's ResNet._make_layer for Bottleneck, without the ResNet object."""
    downsample = None
    if stride != 1 or inplanes != planes * Bottleneck.expansion:
        downsample = nn.Sequential(
            conv1x1(inplanes, planes * Bottleneck.expansion, stride),
            nn.BatchNorm2d(planes * Bottleneck.expansion),
        )
    layers = [Bottleneck(inplanes, planes, stride, downsample)]
    inplanes = planes * Bottleneck.expansion
    layers += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
    return nn.Sequential(*layers)


def _init(module: nn.Module) -> None:
    """torchvision's ResNet initialisation with ``zero_init_residual=True``: each
    bottleneck starts as the identity, which keeps training from scratch stable."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    for m in module.modules():
        if isinstance(m, Bottleneck) and m.bn3.weight is not None:
            nn.init.constant_(m.bn3.weight, 0)


def _conv_bn_relu(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    ]


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, rounded, at least 8."""
    return max(8, round(channels * width))


def _check_width(width: float) -> None:
    if not 0 < width <= 4:
        raise UsageError(f"The classifier width multiplier must be in (0, 4]; got {width}.")


class ResNet50DeepStem(nn.Module):
    """ResNet-50 with the deep stem of Table 1 (3x3 convs 64, 64, 128, then max pool);
    ``width`` scales every channel count (1: the paper's)."""

    input_kind = "pixel"

    def __init__(self, num_classes: int = NUM_CLASSES, width: float = 1.0) -> None:
        super().__init__()
        _check_width(width)
        self.width = width
        c = [scaled(k, width) for k in (64, 128, 256, 512)]  # planes of conv2_x..conv5_x
        e = Bottleneck.expansion
        self.stem = nn.Sequential(
            *_conv_bn_relu(3, c[0], 2),
            *_conv_bn_relu(c[0], c[0]),
            *_conv_bn_relu(c[0], c[1]),
            nn.MaxPool2d(kernel_size=3, stride=2, padding=1),
        )
        self.layer1 = _make_layer(c[1], c[0], 3, 1)  # conv2_x
        self.layer2 = _make_layer(c[0] * e, c[1], 4, 2)  # conv3_x
        self.layer3 = _make_layer(c[1] * e, c[2], 6, 2)  # conv4_x
        self.layer4 = _make_layer(c[2] * e, c[3], 3, 2)  # conv5_x
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c[3] * e, num_classes)
        _init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


#: The adapter names of the paper's two tensors (the shipped checkpoints use them).
_ADAPTER_NAMES = {"y_hat": "adapter_y", "sigma_hat": "adapter_sigma"}


def adapter_name(tensor: str) -> str:
    """The module name of ``tensor``'s adapter branch: ``adapter_y``, ``adapter_sigma``,
    ``adapter_<name>`` for any other tensor (``adapter_<name>_latent`` for one named
    ``y`` or ``sigma``, which would take the paper's names)."""
    if tensor in _ADAPTER_NAMES:
        return _ADAPTER_NAMES[tensor]
    name = f"adapter_{tensor}"
    return f"{name}_latent" if name in _ADAPTER_NAMES.values() else name


class CResNet39(nn.Module):
    """cResNet-39 on a codec's latent tensors (y_hat, sigma_hat, ...), concatenated
    along channels in one input: one adapter branch per tensor, in that order.

    ``CResNet39(M, Ms)`` is the paper's (y_hat and sigma_hat; ``Ms=0``: y_hat alone);
    ``others`` adds branches for further ``(name, channels)`` tensors (``mu_hat``).
    :meth:`from_spec` builds it for a :class:`LatentSpec`."""

    input_kind = "latent"

    def __init__(
        self,
        y_channels: int,
        sigma_channels: int,
        num_classes: int = NUM_CLASSES,
        width: float = 1.0,
        *,
        others: tuple[tuple[str, int], ...] = (),
    ) -> None:
        super().__init__()
        _check_width(width)
        self.width = width
        self.y_channels = y_channels
        self.sigma_channels = sigma_channels
        branches = [("y_hat", y_channels)]
        if sigma_channels:
            branches.append(("sigma_hat", sigma_channels))
        branches += list(others)
        names = [adapter_name(n) for n, _ in branches]
        if len(set(names)) != len(names) or any(ch < 1 for _, ch in branches):
            raise ValueError(f"cResNet-39: latent tensors {branches} repeat or lack channels")
        #: The compressed domain it was built for (:meth:`from_spec`; None: given channels).
        self.latent_spec: LatentSpec | None = None
        #: (tensor name, channels) of each branch, in input order.
        self.branches: tuple[tuple[str, int], ...] = tuple(branches)
        c = [scaled(k, width) for k in (32, 128, 256, 512)]  # adapter, conv3_x..conv5_x
        e = Bottleneck.expansion
        for (_, channels), name in zip(branches, names, strict=True):
            self.add_module(name, _make_layer(channels, c[0], 1, 1))  # 1x1,32; 3x3,32; 1x1,128
        self.adapter_names = tuple(names)
        inplanes = len(branches) * c[0] * e
        self.layer2 = _make_layer(inplanes, c[1], 4, 1)  # conv3_x, first block stride 1
        self.layer3 = _make_layer(c[1] * e, c[2], 6, 2)  # conv4_x
        self.layer4 = _make_layer(c[2] * e, c[3], 3, 2)  # conv5_x
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(c[3] * e, num_classes)
        _init(self)

    @classmethod
    def from_spec(
        cls, spec: LatentSpec, num_classes: int = NUM_CLASSES, width: float = 1.0
    ) -> CResNet39:
        """The classifier of ``spec``'s compressed domain (one branch per tensor)."""
        others = tuple((t.name, t.channels) for t in spec.others)
        model = cls(spec.channels, spec.sigma_channels, num_classes, width, others=others)
        model.latent_spec = spec  # what the data path reads and resizes (not a weight)
        return model

    @property
    def in_channels(self) -> int:
        """The channels of the one input tensor (every branch's together)."""
        return sum(ch for _, ch in self.branches)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs, start = [], 0
        for i, ((_, channels), name) in enumerate(
            zip(self.branches, self.adapter_names, strict=True)
        ):
            last = i == len(self.branches) - 1  # open-ended, as the paper's x[:, M:]
            part = x[:, start:] if last and i else x[:, start : start + channels]
            outs.append(getattr(self, name)(part))
            start += channels
        x = torch.cat(outs, dim=1)
        x = self.layer4(self.layer3(self.layer2(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def build_classifier(
    domain: str,
    latent_spec: LatentSpec | None = None,
    num_classes: int = NUM_CLASSES,
    width: float = 1.0,
) -> nn.Module:
    """ResNet-50 (deep stem) for ``"pixel"``; cResNet-39 for ``"latent"`` (one adapter
    branch per tensor of ``latent_spec``); ``width`` scales their channels (1: the paper's)."""
    if domain == "pixel":
        return ResNet50DeepStem(num_classes, width)
    if domain == "latent":
        if latent_spec is None:
            raise UsageError(
                "A latent-domain classifier needs the codec's latent description "
                "(LatentSpec): pick a codec with a compressed domain."
            )
        return CResNet39.from_spec(latent_spec, num_classes, width)
    raise UsageError(f"Unknown domain {domain!r}; the domains are {', '.join(DOMAINS)}.")


# ------------------------------------------------------------------ ImageNet weights


class InitJson(TypedDict, total=False):
    """:meth:`InitReport.as_dict`, as a training records it (``{"init": "scratch"}``
    alone when nothing was loaded)."""

    init: str
    init_weights: str | None
    init_loaded_tensors: int
    init_shape_mismatch: list[str]
    init_not_in_checkpoint: int
    init_unused_checkpoint_tensors: int
    init_adapted: list[str]


class ComplexityJson(TypedDict):
    """:meth:`Complexity.as_dict`: a classifier's size and cost, as results record it."""

    model: str
    input: str
    parameters: int
    macs: int
    conv_layers: int
    main_path_convs: int


@dataclass
class InitReport:
    """How a classifier was initialised, recorded with the results."""

    source: str  # "scratch" or "imagenet"
    path: str | None = None
    loaded: int = 0
    shape_mismatch: list[str] = field(default_factory=list)
    not_in_checkpoint: list[str] = field(default_factory=list)
    unused: int = 0
    #: cResNet-39 tensors fitted from another compressed domain's checkpoint (see
    #: :func:`init_from_imagenet`): the fusion convolutions' input channels, and the
    #: adapters of tensors the checkpoint has none for
    adapted: list[str] = field(default_factory=list)

    def as_dict(self) -> InitJson:
        out: InitJson = {
            "init": self.source,
            "init_weights": self.path,
            "init_loaded_tensors": self.loaded,
            "init_shape_mismatch": list(self.shape_mismatch),
            "init_not_in_checkpoint": len(self.not_in_checkpoint),
            "init_unused_checkpoint_tensors": self.unused,
        }
        if self.adapted:
            out["init_adapted"] = list(self.adapted)
        return out

    def summary(self) -> str:
        if self.source == "scratch":
            return "initialised from scratch (no ImageNet weights given)"
        return (
            f"ImageNet weights from {self.path}: {self.loaded} tensors loaded; "
            f"{len(self.shape_mismatch)} left at their initialisation because their shapes "
            f"differ ({', '.join(self.shape_mismatch[:6])}"
            f"{' ...' if len(self.shape_mismatch) > 6 else ''}); "
            f"{len(self.not_in_checkpoint)} not in the checkpoint; "
            f"{self.unused} checkpoint tensors unused"
            + (
                f"; {len(self.adapted)} fitted to this compressed domain (new input "
                "channels of the fusion zeroed, a new tensor's adapter from adapter_y's)"
                if self.adapted
                else ""
            )
        )


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise WeightsError(
            f"ImageNet weights file not found: {str(path)!r}. Download torchvision's "
            f"ResNet-50 checkpoint from {TORCHVISION_RESNET50_URL} and pass its path to "
            "--imagenet-weights, or give --imagenet-weights none to train from scratch."
        )
    try:
        data = load_plain(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure
        raise WeightsError(
            f"Cannot read {str(path)!r} as a torch checkpoint ({describe_load_error(exc)}). "
            f"Give torchvision's ResNet-50 state dict ({TORCHVISION_RESNET50_URL})."
        ) from None
    for key in ("state_dict", "model"):
        if isinstance(data, dict) and isinstance(data.get(key), dict):
            data = data[key]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise WeightsError(
            f"{str(path)!r} holds no state dict of tensors. Give torchvision's ResNet-50 "
            f"state dict ({TORCHVISION_RESNET50_URL})."
        )
    return {k.removeprefix("module."): v for k, v in data.items()}


def init_from_imagenet(model: nn.Module, path: str | Path | None) -> InitReport:
    """Copy a torchvision ResNet-50 checkpoint's tensors into ``model`` by name.

    ResNet-50 takes every tensor whose name and shape match (the deep stem, the first
    block of conv2_x and the 1000-way fc differ and stay at their initialisation);
    cResNet-39 takes conv3_x..conv5_x (``layer2``..``layer4``), and its adapters
    too when the checkpoint is a cResNet-39's (the texture stand-in's latent half).
    From a cResNet-39 of another compressed domain (the stand-in is y_hat + sigma_hat),
    the tensors are fitted rather than dropped: an adapter the checkpoint lacks (a
    ``mu_hat`` branch) starts as its ``adapter_y`` when the shapes agree, and the
    convolutions that read the concatenated branches (conv3_x's first block) keep the
    checkpoint's weights on the input channels both have, zero on the others -- so a
    y_hat + sigma_hat + mu_hat network starts out computing exactly what the
    checkpoint's y_hat + sigma_hat network did, and a y_hat-only one reads y_hat as it
    did. Mismatches are reported, not fatal. ``path=None`` leaves the model as built
    (from scratch).
    """
    if path is None:
        return InitReport("scratch")
    source = _read_state_dict(Path(path))
    prefixes: tuple[str, ...] = ("",)
    if isinstance(model, CResNet39):
        prefixes = ("layer2.", "layer3.", "layer4.")
        if any(k.startswith("adapter_y.") for k in source):  # a cResNet-39 checkpoint
            prefixes = tuple(f"{n}." for n in model.adapter_names) + prefixes
    own = model.state_dict()
    report = InitReport("imagenet", str(path))
    new_state = {}
    used = set()
    fit = isinstance(model, CResNet39) and any(k.startswith("adapter_y.") for k in source)
    for name, tensor in own.items():
        if not name.startswith(prefixes):
            continue
        like = _adapter_y_twin(name) if fit and name not in source else None
        if like is not None and like in source and source[like].shape == tensor.shape:
            new_state[name] = source[like].to(tensor.dtype)
            report.adapted.append(name)
            continue
        if name not in source:
            report.not_in_checkpoint.append(name)
            continue
        used.add(name)
        if source[name].shape != tensor.shape:
            fitted = _fit_input_channels(source[name], tensor) if fit else None
            if fitted is None:
                report.shape_mismatch.append(name)
                continue
            new_state[name] = fitted
            report.adapted.append(name)
            continue
        new_state[name] = source[name].to(tensor.dtype)
    report.loaded = len(new_state)
    report.unused = len(set(source) - used)
    if report.loaded == 0:
        raise WeightsError(
            f"No tensor of {str(path)!r} fits {type(model).__name__}: it is not a "
            f"torchvision ResNet-50 checkpoint. Use {TORCHVISION_RESNET50_URL}."
        )
    model.load_state_dict(new_state, strict=False)
    return report


def _adapter_y_twin(name: str) -> str | None:
    """``adapter_y.<rest>`` for a tensor of another branch's adapter (``adapter_mu_hat``)."""
    head, dot, rest = name.partition(".")
    if dot and head.startswith("adapter_") and head not in ("adapter_y", "adapter_sigma"):
        return f"adapter_y.{rest}"
    return None


def _fit_input_channels(source: torch.Tensor, own: torch.Tensor) -> torch.Tensor | None:
    """``source``'s weights on the input channels both convolutions have, zero on
    ``own``'s others; None unless the two differ in the input channels only."""
    if source.dim() != 4 or own.dim() != 4 or source.shape[0] != own.shape[0]:
        return None
    if source.shape[2:] != own.shape[2:]:
        return None
    out = torch.zeros_like(own)
    n = min(source.shape[1], own.shape[1])
    out[:, :n] = source[:, :n].to(own.dtype)
    return out


# ------------------------------------------------------------------------ complexity


@dataclass
class Complexity:
    """Size and cost of a classifier for one input shape."""

    name: str
    input_shape: tuple[int, ...]
    parameters: int
    macs: int
    conv_layers: int  # every Conv2d, projections included
    main_path_convs: int  # convolutions outside the 1x1 shortcut projections

    def as_dict(self) -> ComplexityJson:
        return {
            "model": self.name,
            "input": "x".join(str(s) for s in self.input_shape),
            "parameters": self.parameters,
            "macs": self.macs,
            "conv_layers": self.conv_layers,
            "main_path_convs": self.main_path_convs,
        }


def complexity(model: nn.Module, input_shape: tuple[int, ...], name: str = "") -> Complexity:
    """Parameter count and multiply-accumulates of one forward pass (batch 1).

    MACs count Conv2d and Linear layers (the usual convention: BN, ReLU and pooling are
    not counted).
    """
    macs = 0

    def hook(module: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            k = module.kernel_size[0] * module.kernel_size[1]
            macs += out.numel() * (module.in_channels // module.groups) * k
        elif isinstance(module, nn.Linear):
            macs += out.numel() * module.in_features

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, nn.Conv2d | nn.Linear)
    ]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape)))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    convs = [n for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
    main = [n for n in convs if ".downsample." not in n]
    return Complexity(
        name=name or type(model).__name__,
        input_shape=tuple(input_shape),
        parameters=sum(p.numel() for p in model.parameters()),
        macs=macs,
        conv_layers=len(convs),
        main_path_convs=len(main),
    )


def cresnet_backbone_convs(model: CResNet39) -> int:
    """Main-path convolutions after the adapters (conv3_x..conv5_x): 39."""
    return sum(
        1
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
        and name.startswith(("layer2.", "layer3.", "layer4."))
        and ".downsample." not in name
    )
