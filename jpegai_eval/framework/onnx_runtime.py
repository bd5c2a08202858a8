"""ONNX export of trained classifiers and inference through ONNX Runtime.

The provider is CUDA when ``device`` allows it and the CUDA provider actually starts
(onnxruntime-gpu lists it even on machines without a GPU and falls back silently, so
the session's own provider list is what gets reported), else CPU.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jpegai_eval.framework.errors import UserError

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-3


def export(model: Any, example_inputs: tuple[Any, ...], input_names: list[str], path: Path) -> Path:
    """Export ``model`` (eval mode) to ``path`` with a dynamic batch dimension."""
    import torch

    from jpegai_eval.framework.image_io import atomic_output

    model.eval()
    dynamic = {name: {0: "batch"} for name in input_names}
    dynamic["logits"] = {0: "batch"}
    with atomic_output(path) as tmp, torch.no_grad():
        torch.onnx.export(
            model,
            tuple(example_inputs),
            str(tmp),
            input_names=input_names,
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    return Path(path)


def gpu_present() -> bool:
    """Whether a CUDA GPU is visible (onnxruntime-gpu lists its CUDA provider even
    without one, and then fails loudly while loading CUDA libraries)."""
    import torch

    return bool(torch.cuda.is_available())


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available and gpu_present():
        wanted.insert(0, "CUDAExecutionProvider")
    return wanted


@dataclass
class Session:
    """An onnxruntime session and the provider it really runs on."""

    session: Any
    provider: str
    input_names: list[str]

    def __call__(self, *inputs: Any) -> Any:
        feeds = dict(zip(self.input_names, inputs, strict=True))
        return self.session.run(["logits"], feeds)[0]


def open_session(
    path: Path, device: str = "auto", threads: int | None = None, spinning: bool = True
) -> Session:
    """A session on the best provider ``device`` allows. ``spinning=False``: idle
    intra-op threads sleep instead of spinning (spinning threads starve whatever runs
    next on the CPU: 1.3-1.5x on a shared 2-core machine, docs/benchmarks.md)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = ort.InferenceSession(str(path), options, providers=providers_for(device))
    provider = session.get_providers()[0]
    if device == "cuda" and provider != "CUDAExecutionProvider":
        raise UserError(
            "--device cuda was asked for, but ONNX Runtime's CUDA provider did not start "
            f"(running on {provider}). Check the GPU driver and onnxruntime-gpu's CUDA "
            "libraries, or use --device auto."
        )
    return Session(session, provider, [i.name for i in session.get_inputs()])


def parity(model: Any, session: Session, inputs: tuple[Any, ...]) -> float:
    """Max absolute logit difference between PyTorch and ONNX Runtime on one batch."""
    import numpy as np
    import torch

    model.eval()
    with torch.no_grad():
        expected = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]).numpy()
    got = session(*inputs)
    return float(np.max(np.abs(expected - got)))
