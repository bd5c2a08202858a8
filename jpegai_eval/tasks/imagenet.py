"""torchvision's ImageNet-trained ResNet-50 weights, which the paper fine-tunes from.

Both classifiers start from them under the ``paper`` preset (cResNet-39 takes
conv3_x..conv5_x). They are looked for where torchvision keeps them, torch hub's
``checkpoints/`` folder (:func:`jpegai_eval.framework.remote.torch_hub_checkpoints`),
under torchvision's own file names, whose ``-<hex>`` part is the start of the file's
SHA-256 (checked on load and on download).
"""

from __future__ import annotations

from pathlib import Path

from jpegai_eval.framework.remote import RemoteFile, mirrored, torch_hub_checkpoints

#: Replaces :data:`TORCHVISION_URL_PREFIX` in the URLs below (a mirror, a test server).
TORCHVISION_URL_ENV = "JPEGAI_EVAL_TORCHVISION_URL"
TORCHVISION_URL_PREFIX = "https://download.pytorch.org/models"

#: torchvision's ``ResNet50_Weights``: V1 is the weights of the study's time (2018).
VARIANTS: dict[str, tuple[str, str]] = {
    "IMAGENET1K_V1": (
        "resnet50-0676ba61.pth",
        "https://download.pytorch.org/models/resnet50-0676ba61.pth",
    ),
    "IMAGENET1K_V2": (
        "resnet50-11ad3fa6.pth",
        "https://download.pytorch.org/models/resnet50-11ad3fa6.pth",
    ),
}
DEFAULT_VARIANT = "IMAGENET1K_V1"


def imagenet_file(variant: str = DEFAULT_VARIANT, folder: Path | None = None) -> RemoteFile:
    """The :class:`RemoteFile` of one variant, looked for in torch hub's checkpoints."""
    name, url = VARIANTS[variant]
    return RemoteFile(
        name=name,
        folder=folder if folder is not None else torch_hub_checkpoints(),
        url=mirrored(url, TORCHVISION_URL_ENV, TORCHVISION_URL_PREFIX),
        what=f"torchvision ResNet-50 ImageNet weights ({variant})",
        url_env=TORCHVISION_URL_ENV,
    )


#: The ImageNet variant a preset initialises its classifiers from by default.
PRESET_DEFAULTS: dict[str, str | None] = {"paper": DEFAULT_VARIANT}


def variant_for(imagenet_weights: str | None, preset: str | None = None) -> str | None:
    """Which torchvision variant ``--imagenet-weights`` (None: the preset's default)
    asks for; None for ``none`` (from scratch) and for a file of the user's own."""
    if imagenet_weights is None:
        return PRESET_DEFAULTS.get(str(preset))
    key = str(imagenet_weights).strip()
    if key.upper() in VARIANTS:
        return key.upper()
    return None
