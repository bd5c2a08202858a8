"""torchvision's ImageNet-trained ResNet-50 weights, which the paper fine-tunes from.

Both classifiers start from them under the ``paper`` preset (cResNet-39 takes
conv3_x..conv5_x). They are looked for where torchvision keeps them, torch hub's
``checkpoints/`` folder (:func:`jpegai_eval.framework.remote.torch_hub_checkpoints`),
under torchvision's own file names, whose ``-<hex>`` part is the start of the file's
SHA-256 (checked on load and on download).
"""

from __future__ import annotations

from pathlib import Path

from jpegai_eval.framework.remote import RemoteFile, torch_hub_checkpoints

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
        url=url,
        what=f"torchvision ResNet-50 ImageNet weights ({variant})",
    )
