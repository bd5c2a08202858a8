"""torchvision's ImageNet-trained ResNet-50 weights, which the paper fine-tunes from.

Both classifiers start from them under the ``paper`` preset (cResNet-39 takes
conv3_x..conv5_x). They are looked for where torchvision keeps them, torch hub's
``checkpoints/`` folder (:func:`jpegai_eval.framework.io.remote.torch_hub_checkpoints`),
under torchvision's own file names, whose ``-<hex>`` part is the start of the file's
SHA-256 (checked on load and on download).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from jpegai_eval.framework.io.remote import RemoteFile, mirrored, torch_hub_checkpoints

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


#: The ``--imagenet-weights`` value naming the shipped texture stand-in for ImageNet
#: (:mod:`jpegai_eval.tasks.standin` makes it), and where it is.
STANDIN_NAME = "texture-standin"
STANDIN_FILE = "texture-standin-resnet50-w0.25.pt"


#: The stand-in's compressed-domain half: cResNet-39 at the ``quick`` width, pretrained
#: on the demo codec's latents of the same corpus (the paper's cResNet-39 starts from one
#: trained on ImageNet's compressed representations). cResNet-39 classifiers take it when
#: the stand-in is asked for; ResNet-50 classifiers take :data:`STANDIN_FILE`.
LATENT_STANDIN_FILE = "texture-standin-cresnet39-w0.25.pt"


def standin_path() -> Path:
    return Path(__file__).resolve().parent / "weights" / STANDIN_FILE


def latent_standin_path() -> Path:
    return Path(__file__).resolve().parent / "weights" / LATENT_STANDIN_FILE


def checkpoint_for_domain(path: str | None, domain: str) -> str | None:
    """The checkpoint a classifier of ``domain`` starts from when the run's classifiers
    start from ``path``: the stand-in's cResNet-39 file for the latent domain when
    ``path`` is the (pixel) stand-in and that file is installed; ``path`` otherwise."""
    if (
        path is not None
        and domain == "latent"
        and Path(path).resolve() == standin_path()
        and latent_standin_path().is_file()
    ):
        return str(latent_standin_path())
    return path


#: What a preset initialises its classifiers from by default: an ImageNet variant, or
#: the shipped texture stand-in (:mod:`jpegai_eval.tasks.standin`) for ``quick``.
PRESET_DEFAULTS: dict[str, str | None] = {"paper": DEFAULT_VARIANT, "quick": STANDIN_NAME}


def variant_for(imagenet_weights: str | None, preset: str | None = None) -> str | None:
    """Which torchvision variant ``--imagenet-weights`` (None: the preset's default)
    asks for; None for ``none`` (from scratch) and for a file of the user's own."""
    key = str(
        imagenet_weights if imagenet_weights is not None else PRESET_DEFAULTS.get(str(preset))
    )
    key = key.strip()
    if key.upper() in VARIANTS:
        return key.upper()
    return None


NONE = "none"


@dataclass(frozen=True)
class ImagenetInit:
    """What the classifiers start from: a checkpoint path (None: from scratch) and a
    one-line description for the log, ``run.json`` and the report."""

    path: str | None
    label: str


def resolve_imagenet_weights(
    value: str | None, preset: str, folder: Path | None = None
) -> ImagenetInit:
    """Resolve ``--imagenet-weights`` for ``preset``: a variant name (``IMAGENET1K_V1``,
    ``IMAGENET1K_V2``), ``none``, or a checkpoint path; None means the preset's default.

    A variant is looked for in torch hub's checkpoints folder (``folder``, by default
    :func:`torch_hub_checkpoints`) and its hash prefix checked; a missing one is
    downloaded the way torchvision does (``torch.hub.load_state_dict_from_url``) unless
    ``JPEGAI_EVAL_OFFLINE=1``. Anything missing or wrong is one WeightsError naming the
    file, the folder and the URL -- raised before the run does any work.
    """
    from jpegai_eval.framework.errors import WeightsError

    given = value is not None
    choice = value if given else PRESET_DEFAULTS.get(preset) or NONE
    origin = "--imagenet-weights" if given else f"the {preset} preset's default"
    if choice.strip().lower() == NONE:
        return ImagenetInit(None, f"from scratch ({origin}: no ImageNet weights)")
    if choice.strip().lower() == STANDIN_NAME:
        path = standin_path()
        if not path.is_file():
            raise WeightsError(
                f"The texture stand-in for ImageNet ({origin}) is missing: {path} does not "
                "exist, so this installation is incomplete. Reinstall jpegai-eval, rebuild it "
                f"with `jpegai-eval task pretrain --out {path}`, or train from scratch with "
                "--imagenet-weights none."
            )
        return ImagenetInit(
            str(path), f"texture stand-in for ImageNet ({_standin_files()}; {origin})"
        )
    variant = choice.strip().upper()
    if variant in VARIANTS:
        remote = imagenet_file(variant, folder)
        if not remote.path.is_file():
            _download(remote, variant, origin)
        problem = remote.verify()
        if problem is not None:
            raise WeightsError(
                f"{remote.path} is not torchvision's {remote.name} ({problem}): the file is "
                f"damaged or another one. Delete it and download {remote.url} into "
                f"{remote.folder} again, or train from scratch with --imagenet-weights none."
            )
        return ImagenetInit(
            str(remote.path),
            f"ImageNet: torchvision ResNet-50 {variant} ({remote.name}, {origin})",
        )
    path = Path(choice).expanduser()
    if not path.is_file():
        raise WeightsError(
            f"--imagenet-weights {choice!r} is not a file, nor one of "
            f"{', '.join(VARIANTS)} or none. Give torchvision's ResNet-50 checkpoint "
            f"({VARIANTS[DEFAULT_VARIANT][1]}), a variant name, or none to train from scratch."
        )
    for variant, (name, url) in VARIANTS.items():
        if path.name == name:  # torchvision's own file: its name carries its hash prefix
            problem = imagenet_file(variant, path.parent).verify()
            if problem is not None:
                raise WeightsError(
                    f"{path} is not torchvision's {name} ({problem}). Download it again "
                    f"from {url}, or train from scratch with --imagenet-weights none."
                )
    return ImagenetInit(str(path), f"ImageNet weights from {path} (--imagenet-weights)")


def _standin_files() -> str:
    """The stand-in's files with the start of their SHA-256 (the classifiers' cache keys
    hold this line, so replaced files retrain them)."""
    from jpegai_eval.framework.io.remote import sha256_of

    files = [standin_path(), latent_standin_path()]
    return "; ".join(f"{p.name} sha256 {sha256_of(p)[:12]}" for p in files if p.is_file())


def _download(remote: RemoteFile, variant: str, origin: str) -> None:
    from jpegai_eval.framework.errors import WeightsError

    def missing(why: str) -> WeightsError:
        return WeightsError(
            f"The classifiers fine-tune from torchvision's ResNet-50 ImageNet weights "
            f"{variant} ({origin}), but {remote.name} is not in {remote.folder} and {why}. "
            f"Download {remote.url} into {remote.folder} (torch hub's checkpoints folder; "
            "set TORCH_HOME to use another), or give the file with --imagenet-weights "
            "FILE, or train from scratch with --imagenet-weights none."
        )

    from jpegai_eval.framework.io.download import OFFLINE_ENV, is_offline

    if is_offline():
        raise missing(f"the network is forbidden ({OFFLINE_ENV} is set or --offline was given)")
    try:
        import torch.hub

        torch.hub.load_state_dict_from_url(
            remote.url,
            model_dir=str(remote.folder),
            progress=False,
            check_hash=True,
            file_name=remote.name,
            weights_only=True,
        )
    except Exception as exc:  # noqa: BLE001 - network, disk or hash failures alike
        partial = remote.path
        if partial.is_file() and remote.verify() is not None:
            partial.unlink()
        raise missing(f"downloading it failed ({type(exc).__name__}: {exc})") from None
