"""``jpegai-eval codec ...``: encode, decode, latents, info, eval and train.

Commands stay thin: parse, call one function, print. Every file is written through a
temporary file and a rename, so an error leaves no half-written output behind. Errors
a user can cause are :class:`~jpegai_eval.framework.errors.UserError`\\ s; the group
turns them into ``Error: <message>`` and their exit code.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from jpegai_eval.cli.errors import UserErrorGroup
from jpegai_eval.cli.metrics import metrics_option

if TYPE_CHECKING:
    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.api.types import Codec, CodecModel

codec_group = UserErrorGroup(
    "codec", help="Encode, decode, inspect and train codecs (.jai bitstreams)."
)

weights_option = click.option(
    "--weights",
    default=None,
    metavar="demo|pretrained|PATH",
    help="The codec's weights, as its backend reads them: for the built-in learned codecs "
    "'demo' (shipped, the default for hyperprior-msssim), 'pretrained' (CompressAI's zoo, "
    "TFC's metagraphs), a checkpoint file, or a folder with one per quality; a plugin "
    "codec documents its own. A codec without weights (jpeg...) takes none.",
)
weights_dir_option = click.option(
    "--weights-dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Folder for --weights pretrained (default: $JPEGAI_EVAL_WEIGHTS_DIR, else torch "
    "hub's checkpoints folder).",
)
device_option = click.option(
    "--device", default="cpu", show_default=True, help="torch device for learned codecs."
)


def resolve_codec(codec_id: str, backend: str | None = None) -> Codec:
    """A codec by id, ``id/backend`` (as ``run --codec`` takes it), or id and --backend."""
    from jpegai_eval.framework.api.plugins import get_plugins

    if "/" in codec_id and backend is None:
        codec_id, backend = codec_id.split("/", 1)
    return get_plugins().codecs.resolve(codec_id, backend)


def load_model(
    codec: Codec, quality: int, weights: str | None, weights_dir: str | None, device: str
) -> CodecModel:
    """``codec.load`` with the command's weights, weights folder and device."""
    codec.check_quality(quality)
    return codec.load(quality, weights, device, weights_dir=weights_dir)


def open_bitstream(path: str) -> tuple[bytes, Header, bytes]:
    """(bytes, header, payload) of a ``.jai`` file, verified."""
    from jpegai_eval.framework.api.bitstream import unpack
    from jpegai_eval.framework.io.image_io import read_bytes

    data = read_bytes(path, ".jai file")
    header, payload = unpack(data)
    return data, header, payload


def model_for_file(
    path: str, weights: str | None, weights_dir: str | None, device: str
) -> tuple[bytes, Header, CodecModel]:
    data, header, _ = open_bitstream(path)
    codec = resolve_codec(header.codec, header.backend)
    if header.quality == 0 and codec.parameter is not None:
        # A rate-controlled file (run --target-bpp): any model of the codec decodes it.
        return data, header, codec.load_parameter(None, weights, device, weights_dir)
    if header.quality not in codec.qualities:
        from jpegai_eval.framework.api.bitstream import BitstreamError

        raise BitstreamError(
            f"The .jai header names quality {header.quality}, which {codec.key} does not "
            "have. The file is corrupt or from another version; re-encode the image."
        )
    if weights is None and header.weights_id and codec.backend == "compressai":
        from jpegai_eval.codecs.weights import is_demo_file

        if is_demo_file(codec.id, header.quality, header.weights_id):
            weights = "demo"  # the file says so: its weights id is the demo weights'
    return data, header, load_model(codec, header.quality, weights, weights_dir, device)


def _same_file(a: str, b: str) -> bool:
    """Whether paths ``a`` and ``b`` name one file (links and ``./`` included)."""
    try:
        return Path(a).resolve() == Path(b).resolve() or Path(a).samefile(b)
    except OSError:
        return False


def note(message: str) -> None:
    click.echo(f"Note: {message}", err=True)


@codec_group.command("encode")
@click.option("--codec", "codec_id", required=True, help="Codec id, e.g. hyperprior-msssim.")
@click.option("--backend", default=None, help="Backend, when a codec id has several.")
@click.option("--quality", type=int, required=True, help="Quality (1 = lowest rate).")
@weights_option
@weights_dir_option
@device_option
@click.argument("image", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def encode_command(codec_id, backend, quality, weights, weights_dir, device, image, out):
    """Encode IMAGE (PNG, JPEG, ...) into the .jai bitstream OUT."""
    from jpegai_eval.framework.api.bitstream import bits_per_pixel
    from jpegai_eval.framework.errors import UsageError, UserError
    from jpegai_eval.framework.io.image_io import atomic_write_bytes, read_image_with_notes

    if _same_file(image, out):
        raise UsageError(
            f"OUT {out!r} is the input image itself: encoding would overwrite the source. "
            "Give another output path, such as image.jai."
        )
    codec = resolve_codec(codec_id, backend)
    codec.check_quality(quality)
    array, notes = read_image_with_notes(image)
    for text in notes:
        note(text)
    model = load_model(codec, quality, weights, weights_dir, device)
    try:
        data = model.encode(array)
    except UserError as exc:
        error = UserError(f"Cannot encode {image!r}: {exc.message}")
        error.exit_code = exc.exit_code
        raise error from None
    atomic_write_bytes(out, data)
    h, w = array.shape[:2]
    click.echo(
        f"{out}: {codec.key} q{quality}, {w}x{h}, {len(data)} bytes, "
        f"{bits_per_pixel(data, h, w):.4f} bpp"
    )


@codec_group.command("decode")
@weights_option
@weights_dir_option
@device_option
@click.argument("bitstream", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def decode_command(weights, weights_dir, device, bitstream, out):
    """Decode BITSTREAM (.jai) into the image OUT (.png). The file names its codec and
    quality; --weights must match those that encoded it (a file the shipped demo
    weights made is recognised by its weights id)."""
    from jpegai_eval.framework.io.image_io import image_format, write_image

    image_format(Path(out).suffix)  # refuse a lossy OUT before the (slow) decode
    data, header, model = model_for_file(bitstream, weights, weights_dir, device)
    image = model.decode(data)
    write_image(out, image)
    click.echo(f"{out}: {header.width}x{header.height} from {header.codec} q{header.quality}")


@codec_group.command("latents")
@weights_option
@weights_dir_option
@device_option
@click.argument("bitstream", type=click.Path(dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def latents_command(weights, weights_dir, device, bitstream, out):
    """Write the compressed-domain latents of BITSTREAM to OUT (.npz with the codec's
    latent arrays, e.g. y_hat and sigma_hat, each C x ceil(H/stride) x ceil(W/stride)
    for the codec's stride: `codec info BITSTREAM` gives y_hat's shape), without
    running g_s."""
    import numpy as np

    from jpegai_eval.framework.io.image_io import atomic_write_bytes

    data, header, model = model_for_file(bitstream, weights, weights_dir, device)
    latents = model.latents(data)
    buffer = io.BytesIO()
    np.savez(buffer, **latents)
    atomic_write_bytes(out, buffer.getvalue())
    shapes = ", ".join(
        f"{name} {'x'.join(str(s) for s in np.shape(array))}" for name, array in latents.items()
    )
    click.echo(f"{out}: {shapes} (C x h x w)")


@codec_group.command("info")
@click.argument("bitstream", type=click.Path(dir_okay=False))
def info_command(bitstream):
    """Print the header of BITSTREAM as JSON: codec, backend, quality, size, bytes, bpp."""
    from jpegai_eval.framework.api.bitstream import bits_per_pixel
    from jpegai_eval.framework.errors import UserError

    data, header, payload = open_bitstream(bitstream)
    info = {
        "codec": header.codec,
        "backend": header.backend,
        "quality": header.quality,
        "size": {"height": header.height, "width": header.width},
        "latent_shape": list(header.latent_shape),
        "bytes": len(data),
        "payload_bytes": len(payload),
        "bpp": round(bits_per_pixel(data, header.height, header.width), 6),
        "weights_id": header.weights_id.hex(),
    }
    try:  # what made it: the codec's libraries and settings, where it is installed
        codec = resolve_codec(header.codec, header.backend)
        info["description"] = codec.description
        if header.quality == 0 and codec.parameter is not None:
            info["rate_controlled"] = f"encoded at a searched value of {codec.parameter.describe()}"
    except UserError:
        info["description"] = None
    click.echo(json.dumps(info, indent=2))


@codec_group.command("eval")
@click.option("--codec", "codec_id", required=True, help="Codec id, e.g. hyperprior-msssim.")
@click.option("--backend", default=None, help="Backend, when a codec id has several.")
@click.option("--quality", type=int, multiple=True, required=True, help="Quality; repeatable.")
@weights_option
@weights_dir_option
@device_option
@click.option(
    "--data",
    required=True,
    type=click.Path(file_okay=False),
    help="A folder of images, or a MINC-2500 layout root (its test1.txt split is used).",
)
@click.option("--split", default="test", show_default=True, help="MINC split to read.")
@metrics_option()
def eval_command(
    codec_id, backend, quality, weights, weights_dir, device, data, split, metrics_spec
):
    """Mean bpp, PSNR, SSIM, MS-SSIM, the --metrics and times of a codec over a folder of
    images (JSON)."""
    from jpegai_eval.codecs.training import dataset_images
    from jpegai_eval.framework.api.plugins import get_plugins
    from jpegai_eval.framework.quality.metrics import evaluate_images
    from jpegai_eval.framework.run.plan import plan_metrics

    notes: list[str] = []
    registry = get_plugins().metrics
    metrics = [registry.get(i) for i in plan_metrics(metrics_spec, get_plugins(), notes)]
    for note in notes:
        click.echo(note, err=True)
    codec = resolve_codec(codec_id, backend)
    paths = dataset_images(Path(data), split)
    rows = []
    for q in quality:
        model = load_model(codec, q, weights, weights_dir, device)
        summary = evaluate_images(model, paths, metrics)
        rows.append({"codec": codec.key, "quality": q, "images": len(paths), **summary})
    click.echo(json.dumps(rows, indent=2))


@codec_group.command("train")
@click.option(
    "--codec",
    "codec_id",
    default="hyperprior-msssim",
    show_default=True,
    help="A CompressAI codec id or alias (hyperprior-msssim, mbt2018-mean, "
    "bmshj2018-factorized-mse...), or a plugin codec that exposes a CompressAI network.",
)
@click.option(
    "--quality", type=int, required=True, help="One of the codec's qualities (1-8; cheng2020: 1-6)."
)
@click.option(
    "--data",
    required=True,
    multiple=True,
    type=click.Path(file_okay=False),
    help="A folder of images (recursive), or a MINC-2500 layout root (train1.txt). "
    "Repeat to mix folders; each gets an equal share of the patches.",
)
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False),
    help="Checkpoint to write; <OUT>.train-state.pt holds the resumable state.",
)
@click.option("--steps", type=int, default=2000, show_default=True)
@click.option(
    "--patch", type=int, default=128, show_default=True, help="Square crop size (a multiple of 64)."
)
@click.option("--batch", type=int, default=8, show_default=True)
@click.option(
    "--config-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Scale CompressAI's (N, M) for the quality, e.g. 0.25 for a small model.",
)
@click.option("--N", "n", type=int, default=None, help="Channels N (overrides the zoo's).")
@click.option("--M", "m", type=int, default=None, help="Latent channels M (overrides the zoo's).")
@click.option(
    "--init",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Start from this checkpoint's weights (same N, M), e.g. to fine-tune a quality ladder.",
)
@click.option(
    "--transfer",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Start the tensors that fit (same name and shape) from this checkpoint of any "
    "CompressAI family, e.g. a mean-scale model from a scale hyperprior's g_a and g_s.",
)
@click.option("--lr", type=float, default=1e-4, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--checkpoint-every", type=int, default=100, show_default=True)
@click.option("--half/--no-half", default=False, help="Store weights as float16.")
@device_option
@click.option("--progress/--no-progress", default=True, help="Show a progress bar.")
def train_command(**options):
    """Train a CompressAI codec with its rate-distortion loss (resumable)."""
    from jpegai_eval.codecs.training import config_from_options, train

    meta = train(config_from_options(**options))
    click.echo(json.dumps(meta, indent=2, sort_keys=True), file=sys.stdout)


def _add_tfc_commands() -> None:
    # The TFC backend's graph-inspection command; importing it does not import TF.
    from jpegai_eval.codecs.tfc_cli import tensors_command

    codec_group.add_command(tensors_command)


_add_tfc_commands()
