"""Overhead of the CompressAI hyperprior plugin over calling CompressAI directly.

For the same images and the same network, in one process, interleaved:

- encode: ``model.encode(image)`` (uint8 array -> padded tensor -> ``compress`` ->
  ``.jai`` container with CRC) vs what CompressAI's ``eval_model`` does: ``to_tensor``
  then ``net.compress(x)`` (sizes that are multiples of 64 need no padding);
- latents: ``model.latents(data)`` (container check -> entropy-decode z_hat -> h_s ->
  entropy-decode y_hat -> cropped numpy arrays) vs the same three CompressAI calls on
  the strings.

Prints the median of each and the ratio plugin / direct (and the ratio of the minimums,
which is steadier on a shared machine). Target: overhead <= 5%.

    .venv/bin/python benchmarks/codec_overhead.py --quality 1 --size 384 --repeat 7
"""

from __future__ import annotations

import argparse
import statistics
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument(
        "--weights",
        default="zoo-random",
        help="'zoo-random' (CompressAI's zoo N, M for the quality, random init), or any "
        "--weights value (demo, pretrained, a path)",
    )
    parser.add_argument("--size", type=int, default=384, help="square image side")
    parser.add_argument("--images", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    import torch

    from jpegai_eval.codecs.compressai_hyperprior import ZOO_CONFIGS, CompressAIHyperprior
    from jpegai_eval.codecs.testing import synthetic_image
    from jpegai_eval.codecs.weights import import_compressai

    ScaleHyperprior = import_compressai().ScaleHyperprior  # noqa: N806

    torch.set_num_threads(args.threads)
    codec = CompressAIHyperprior("ms-ssim")
    if args.weights == "zoo-random":
        torch.manual_seed(0)
        model = codec.from_network(args.quality, ScaleHyperprior(*ZOO_CONFIGS[args.quality]))
    else:
        model = codec.load(args.quality, args.weights)
    net = model.net
    images = [synthetic_image(args.size, args.size, seed=i) for i in range(args.images)]
    tensors = [model.to_input(im) for im in images]
    files = [model.encode(im) for im in images]
    strings = [net.compress(x)["strings"] for x in tensors]
    z_shape = model.z_shape(args.size, args.size)

    from torchvision.transforms.functional import to_tensor

    def direct_encode(i: int) -> None:
        # As CompressAI's eval_model does: ToTensor, pad to 64 (none needed at
        # multiples of 64), compress.
        x = to_tensor(images[i]).unsqueeze(0)
        if x.shape[-2:] != tensors[i].shape[-2:]:
            x = tensors[i]
        with torch.inference_mode():
            net.compress(x)

    def plugin_encode(i: int) -> None:
        model.encode(images[i])

    def direct_latents(i: int) -> None:
        y_strings, z_strings = strings[i]
        with torch.inference_mode():
            z_hat = net.entropy_bottleneck.decompress(z_strings, z_shape)
            scales_hat = net.h_s(z_hat)
            indexes = net.gaussian_conditional.build_indexes(scales_hat)
            net.gaussian_conditional.decompress(y_strings, indexes, z_hat.dtype)

    def plugin_latents(i: int) -> None:
        model.latents(files[i])

    pairs = {
        "encode": (plugin_encode, direct_encode),
        "latents": (plugin_latents, direct_latents),
    }
    times: dict[str, list[float]] = {f"{k}/{w}": [] for k in pairs for w in ("plugin", "direct")}
    for i in range(len(images)):  # warm-up
        for plugin, direct in pairs.values():
            plugin(i)
            direct(i)
    for r in range(args.repeat):
        for i in range(len(images)):
            for name, (plugin, direct) in pairs.items():
                order = [("plugin", plugin), ("direct", direct)]
                for which, fn in order if (r + i) % 2 == 0 else order[::-1]:  # no order bias
                    t0 = time.perf_counter()
                    fn(i)
                    times[f"{name}/{which}"].append(time.perf_counter() - t0)

    print(
        f"hyperprior-msssim q{args.quality} (N={net.N}, M={net.M}, weights {args.weights}), "
        f"{args.images} images {args.size}x{args.size}, {args.repeat} repeats, "
        f"{args.threads} threads"
    )
    for name in pairs:
        plugin = statistics.median(times[f"{name}/plugin"])
        direct = statistics.median(times[f"{name}/direct"])
        best_p, best_d = min(times[f"{name}/plugin"]), min(times[f"{name}/direct"])
        print(
            f"{name:8s} median: plugin {plugin * 1e3:8.2f} ms  direct {direct * 1e3:8.2f} ms  "
            f"ratio {plugin / direct:.3f}   (min: ratio {best_p / best_d:.3f})"
        )


if __name__ == "__main__":
    main()
