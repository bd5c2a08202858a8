"""The levers tried for issue #8, each measured side by side in one process.

``jpegai-eval bench`` measures the product; this script measures the alternatives
that were tried on the way (see docs/benchmarks.md), interleaved, with warm-up,
medians of ``--repeat`` runs:

- onnxruntime with and without idle-thread spinning, alone and interleaved with
  PyTorch (spinning threads starve the next contender on 2 cores);
- onnxruntime's graph optimisation levels and intra-op thread counts for cResNet-39;
- g_s and h_s through PyTorch vs onnxruntime;
- the CDF indexes of y_hat: CompressAI's ``build_indexes`` (a loop of 64 tensor
  comparisons) vs one ``torch.bucketize``; and the y_hat entropy decoding as
  CompressAI's ``decompress`` does it vs with the CDF tables converted to lists once;
- the entropy decoding of y_hat and z_hat by the codec (``decode_y``, ``decode_z``) with
  the compiled rANS decoder on arrays (``jpegai_eval.codecs.rans``) vs CompressAI's
  list-based decoder, and vs CompressAI's ``decompress``.

``--weights demo`` takes the shipped demo weights (small, trained: y_hat has real
symbol statistics) instead of the zoo architecture with random weights (y_hat all zero).

Run it twice to compare PyTorch's OpenMP wait policies (set before torch loads)::

    OMP_WAIT_POLICY=PASSIVE .venv/bin/python benchmarks/inference_levers.py
    OMP_WAIT_POLICY=ACTIVE  .venv/bin/python benchmarks/inference_levers.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def measure(fns: dict[str, Callable[[], object]], repeat: int, warmup: int = 2) -> dict[str, float]:
    """Median ms of each function, interleaved, order alternating per repetition."""
    names = list(fns)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(warmup + repeat):
        for name in names if rep % 2 == 0 else names[::-1]:
            t0 = time.perf_counter()
            fns[name]()
            if rep >= warmup:
                times[name].append(time.perf_counter() - t0)
    return {n: 1e3 * statistics.median(t) for n, t in times.items()}


def report(title: str, medians: dict[str, float]) -> None:
    print(title)
    base = next(iter(medians.values()))
    for name, ms in medians.items():
        print(f"  {name:34s} {ms:8.2f} ms   x{base / ms:5.2f} vs first")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quality", type=int, default=1)
    parser.add_argument("--size", type=int, default=362)
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--weights", default=None, help="as for the bench (default zoo-random)")
    args = parser.parse_args()

    import onnxruntime as ort
    import torch

    from jpegai_eval.bench import measure as bench
    from jpegai_eval.framework.run.onnx_runtime import export
    from jpegai_eval.tasks.models import CResNet39, ResNet50DeepStem

    torch.set_num_threads(args.threads)
    print(
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, {args.threads} threads, "
        f"load {os.getloadavg()}"
    )
    codec = bench.resolve_codec("hyperprior-msssim")
    tmp = Path(tempfile.mkdtemp(prefix="levers-"))
    weights, _ = bench.materialise_weights(codec, args.quality, args.weights, tmp, 0)
    model = codec.load(args.quality, weights=weights)
    net = model.net
    config = bench.BenchConfig(size=args.size)
    data = model.encode(bench.bench_images(config, 1)[0])
    header, payload = model.open(data)
    y_string, z_string = model.strings(payload, header)
    gc = net.gaussian_conditional
    with torch.inference_mode():
        z_hat = net.entropy_bottleneck.decompress([z_string], model.z_shape(args.size, args.size))
        scales_hat = net.h_s(z_hat)
        y_hat = gc.decompress([y_string], gc.build_indexes(scales_hat), z_hat.dtype)

    def session(path: Path, spinning: bool = True, level: str = "ALL", threads: int = 0):
        options = ort.SessionOptions()
        options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, f"ORT_ENABLE_{level}"
        )
        options.intra_op_num_threads = threads or args.threads
        options.log_severity_level = 3
        if not spinning:
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        s = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return lambda x: s.run(None, {s.get_inputs()[0].name: x})

    torch.manual_seed(0)
    r50, c39 = ResNet50DeepStem().eval(), CResNet39(int(net.M), int(net.M)).eval()
    xr = torch.randn(1, 3, 224, 224)
    xc = torch.randn(1, 2 * int(net.M), 28, 28)
    export(r50, (xr,), ["input"], tmp / "r50.onnx")
    export(c39, (xc,), ["input"], tmp / "c39.onnx")
    bench.export_module(net.g_s, y_hat.clone(), tmp / "g_s.onnx", "x_hat")
    bench.export_module(net.h_s, z_hat.clone(), tmp / "h_s.onnx", "scales_hat")
    xrn, xcn, yn, zn = xr.numpy(), xc.numpy(), y_hat.numpy(), z_hat.numpy()
    r = args.repeat

    with torch.inference_mode():
        spin, still = session(tmp / "r50.onnx"), session(tmp / "r50.onnx", spinning=False)
        report(
            "ResNet-50 batch 1, onnxruntime alone: spinning vs not",
            measure({"ort spinning": lambda: spin(xrn), "ort no spinning": lambda: still(xrn)}, r),
        )
        report(
            "ResNet-50 batch 1 interleaved with PyTorch eager, ORT spinning",
            measure({"torch": lambda: r50(xr), "ort spinning": lambda: spin(xrn)}, r),
        )
        report(
            "ResNet-50 batch 1 interleaved with PyTorch eager, ORT not spinning",
            measure({"torch": lambda: r50(xr), "ort no spinning": lambda: still(xrn)}, r),
        )
        variants = {
            f"cResNet-39 {level} threads {t}": (session(tmp / "c39.onnx", False, level, t), xcn)
            for level in ("ALL", "EXTENDED", "BASIC")
            for t in (args.threads, 1)
        }
        report(
            "cResNet-39 batch 1, onnxruntime: optimisation level, threads",
            measure({k: (lambda f=f, x=x: f(x)) for k, (f, x) in variants.items()}, r),
        )
        gs_ort, hs_ort = session(tmp / "g_s.onnx", False), session(tmp / "h_s.onnx", False)
        report(
            "g_s: PyTorch vs onnxruntime",
            measure({"g_s torch": lambda: net.g_s(y_hat), "g_s ort": lambda: gs_ort(yn)}, r),
        )
        report(
            "h_s: PyTorch vs onnxruntime",
            measure({"h_s torch": lambda: net.h_s(z_hat), "h_s ort": lambda: hs_ort(zn)}, r),
        )
        table = gc.scale_table[:-1].to(scales_hat.dtype)
        bounded = gc.lower_bound_scale(scales_hat)
        assert torch.equal(gc.build_indexes(scales_hat), torch.bucketize(bounded, table).int())
        report(
            "CDF indexes of y_hat",
            measure(
                {
                    "build_indexes (64-step loop)": lambda: gc.build_indexes(scales_hat),
                    "bucketize": lambda: torch.bucketize(gc.lower_bound_scale(scales_hat), table),
                },
                r,
            ),
        )
        lists = (
            gc._quantized_cdf.tolist(),
            gc._cdf_length.reshape(-1).int().tolist(),
            gc._offset.reshape(-1).int().tolist(),
        )

        def fast() -> object:
            idx = torch.bucketize(gc.lower_bound_scale(scales_hat), table).int()
            values = gc.entropy_coder.decode_with_indexes(
                y_string, idx.reshape(-1).tolist(), *lists
            )
            return torch.tensor(values, dtype=torch.float32).reshape(scales_hat.shape)

        assert torch.equal(fast(), y_hat)
        report(
            "entropy decoding of y_hat (indexes + rANS + tensor)",
            measure(
                {
                    "CompressAI build_indexes+decompress": lambda: gc.decompress(
                        [y_string], gc.build_indexes(scales_hat), z_hat.dtype
                    ),
                    "bucketize + CDF lists once": fast,
                },
                r,
            ),
        )
        report_decoders(model, y_string, z_string, scales_hat, y_hat, z_hat, r)
    print(f"load {os.getloadavg()}; scratch files in {tmp}")


def report_decoders(model, y_string, z_string, scales_hat, y_hat, z_hat, repeat) -> None:
    """decode_y / decode_z with the compiled decoder vs CompressAI's (lists) vs
    CompressAI's decompress; asserts they agree."""
    import torch

    from jpegai_eval.codecs import rans

    compiled = rans._compiled
    if compiled is None:
        print("(no compiled rANS decoder in this install: nothing to compare)")
        return
    net, gc = model.net, model.net.gaussian_conditional
    shape = tuple(z_hat.shape[-2:])

    def lists(fn):
        """``fn`` with CompressAI's list-based decoder (the install without a compiler)."""

        def run():
            rans._compiled = None
            try:
                return fn()
            finally:
                rans._compiled = compiled

        return run

    def y_fast():
        return model.decode_y([y_string], scales_hat)

    def z_fast():
        return model.decode_z([z_string], shape)

    y_lists, z_lists = lists(y_fast), lists(z_fast)
    assert torch.equal(y_fast(), y_hat) and torch.equal(y_lists(), y_hat)
    assert torch.equal(z_fast(), z_hat) and torch.equal(z_lists(), z_hat)
    symbols = y_hat.numel()
    report(
        f"entropy decoding of y_hat ({symbols:,} symbols, {len(y_string):,} bytes, "
        f"{int((y_hat != 0).sum()):,} non-zero)",
        measure(
            {
                "CompressAI build_indexes+decompress": lambda: gc.decompress(
                    [y_string], gc.build_indexes(scales_hat), z_hat.dtype
                ),
                "decode_y, CompressAI decoder (lists)": y_lists,
                "decode_y, compiled decoder (arrays)": y_fast,
            },
            repeat,
        ),
    )
    report(
        f"entropy decoding of z_hat ({z_hat.numel():,} symbols, {len(z_string):,} bytes)",
        measure(
            {
                "CompressAI entropy_bottleneck.decompress": lambda: (
                    net.entropy_bottleneck.decompress([z_string], shape)
                ),
                "decode_z, CompressAI decoder (lists)": z_lists,
                "decode_z, compiled decoder (arrays)": z_fast,
            },
            repeat,
        ),
    )


if __name__ == "__main__":
    main()
