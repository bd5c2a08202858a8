"""``jpegai-eval codec tensors``: list a TFC metagraph's signatures and latent tensors.

The ``tfci tensors`` command for this project: it shows what the ``sender`` and
``receiver`` signatures take and give, which receiver tensors the ``tfc`` backend reads
as y_hat and sigma_hat (and whether they were discovered or configured), and the
candidates to choose from with ``JPEGAI_EVAL_TFC_TENSORS`` when discovery fails.
"""

from __future__ import annotations

from typing import Any

import click

from jpegai_eval.framework.errors import UsageError, UserError, WeightsError


def describe_tensors(
    codec_id: str,
    quality: int,
    weights_dir: str | None = None,
    tensors: dict[str, str] | None = None,
    show_all: bool = False,
) -> str:
    """The text ``codec tensors`` prints for one model."""
    from jpegai_eval.codecs.tfc_hyperprior import TfcHyperprior
    from jpegai_eval.codecs.tfc_metagraph import LATENT_NAMES, TENSORS_ENV
    from jpegai_eval.framework.api.plugins import get_plugins

    codec = get_plugins().codecs.resolve(codec_id, "tfc")
    if not isinstance(codec, TfcHyperprior):
        raise UsageError(f"Codec {codec.key} is not a TFC metagraph codec.")
    if tensors:
        codec = TfcHyperprior(codec.metric, codec.unavailable_reason, codec.tensors | tensors)
    codec.check_quality(quality)
    graph = codec.open_metagraph(quality, weights_dir)

    lines = [f"Model {graph.model}: {graph.path}"]
    for name in ("sender", "receiver"):
        lines.append(f"{name} signature:")
        for part in ("inputs", "outputs"):
            for key, tensor in graph.signature[name][part]:
                lines.append(
                    f"  {part[:-1]:<6} {key:<20} {tensor.name:<40} "
                    f"{tensor.dtype.name} {_shape(tensor)}"
                )
    lines.append("compressed domain (receiver graph pruned to these; g_s does not run):")
    try:
        found = graph.latent_tensors
    except WeightsError as exc:
        lines.append(f"  NOT FOUND: {exc.message}")
    else:
        for key in (*LATENT_NAMES, "sigma_index"):
            if key in found.names:
                how = found.how["y_hat" if key == "y_hat" else "sigma_hat"]
                lines.append(f"  {key:<10} {found.names[key]:<48} ({how})")
        for key, name in found.tables.items():
            lines.append(f"  {key:<10} {name}")
        lines.append(f"  mapping    {found.mapping}")
    lines.append(
        "candidates ((1, h, w, C) float and integer tensors of the receiver outside g_s; "
        f'override with {TENSORS_ENV}="y_hat=NAME:0,sigma_hat=NAME:0" (sigma_index=NAME:0 '
        "for an integer scale index) or --tensor):"
    )
    for info in graph.candidate_tensors():
        lines.append(f"  {info.name:<58} {info.dtype} {info.shape}")
    if show_all:
        for name in ("sender", "receiver"):
            lines.append(f"all tensors of the {name} graph:")
            for info in graph.all_tensors(name):
                lines.append(f"  {info.name} (dtype={info.dtype}, shape={info.shape})")
    return "\n".join(lines)


def _shape(tensor: Any) -> str:
    shape = tensor.shape
    if shape.rank is None:
        return "(?)"
    return "(" + ", ".join("?" if d is None else str(d) for d in shape) + ")"


@click.command("tensors")
@click.option(
    "--backend",
    default="tfc",
    show_default=True,
    help="Codec backend; only tfc has metagraphs to list.",
)
@click.option("--codec", "codec_id", default="hyperprior-msssim", show_default=True)
@click.option("--quality", "-q", type=int, required=True, help="Quality 1-8.")
@click.option(
    "--weights-dir",
    default=None,
    help="Folder of bmshj2018-hyperprior-*.metagraph files, or one .metagraph file "
    "(default: $JPEGAI_EVAL_TFC_DIR or ~/.cache/jpegai-eval/tfc).",
)
@click.option(
    "--tensor",
    "tensor_specs",
    multiple=True,
    metavar="KEY=NAME",
    help="Use this tensor for y_hat, sigma_hat or sigma_index instead of the discovered one.",
)
@click.option("--all", "show_all", is_flag=True, help="Also list every tensor, like tfci.")
def tensors_command(
    backend: str,
    codec_id: str,
    quality: int,
    weights_dir: str | None,
    tensor_specs: tuple[str, ...],
    show_all: bool,
) -> None:
    """Print a TFC model's sender/receiver signatures and its y_hat/sigma_hat tensors."""
    from jpegai_eval.codecs.tfc_metagraph import tensor_overrides

    try:
        if backend != "tfc":
            raise UsageError(
                f"`codec tensors` lists TensorFlow metagraphs; backend {backend!r} has "
                "none. Use --backend tfc."
            )
        overrides = tensor_overrides(",".join(tensor_specs)) if tensor_specs else None
        click.echo(describe_tensors(codec_id, quality, weights_dir, overrides, show_all))
    except UserError as exc:
        error = click.ClickException(exc.message)
        error.exit_code = exc.exit_code
        raise error from None
