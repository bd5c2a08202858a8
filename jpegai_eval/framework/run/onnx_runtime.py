"""ONNX export of trained classifiers and inference through ONNX Runtime.

The provider is CUDA when ``device`` allows it and the CUDA provider actually starts
(onnxruntime-gpu lists it even on machines without a GPU and falls back silently, so
the session's own provider list is what gets reported), else CPU.

Before a CUDA session is opened, :func:`prepare_cuda` makes the CUDA and cuDNN
libraries that PyTorch ships visible to onnxruntime-gpu: ``import torch`` loads them
into the process, then ``onnxruntime.preload_dlls()`` (onnxruntime >= 1.21) loads any
it still lacks from the ``nvidia`` packages. When ``device`` is ``auto`` and the CUDA
provider still does not start, the session runs on the CPU, one warning line says so
and :func:`fallbacks` returns the reason for ``run.json``; ``--device cuda`` makes it
an error instead.

On the CUDA provider a session runs through ONNX Runtime's IO binding: each input
batch is put on the GPU once (a CUDA torch tensor is bound where it lies, without a
copy), the logits are written on the GPU and copied back once, and evaluation takes
larger batches (:attr:`Session.batch_size`). The CPU provider runs ``session.run`` as
it always did.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.run.distributed import world

log = logging.getLogger(__name__)

PARITY_TOLERANCE = 1e-3
#: Images per evaluation batch on each provider (the GPU wants large batches).
BATCH_SIZE = {"CPUExecutionProvider": 32, "CUDAExecutionProvider": 256}


def export(model: Any, example_inputs: tuple[Any, ...], input_names: list[str], path: Path) -> Path:
    """Export ``model`` (eval mode) to ``path`` with a dynamic batch dimension."""
    import torch

    from jpegai_eval.framework.io.image_io import atomic_output

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


#: Why a CUDA session fell back to the CPU in this process (for run.json), once each.
_fallbacks: list[str] = []
_cuda_prepared: str | None = None


def prepare_cuda() -> str:
    """Load PyTorch's CUDA libraries, then ``onnxruntime.preload_dlls()`` where it
    exists; return what was done (once per process)."""
    global _cuda_prepared
    if _cuda_prepared is not None:
        return _cuda_prepared
    import onnxruntime as ort
    import torch  # noqa: F401  (loads libcudart, cuBLAS and cuDNN from its wheels)

    preload = getattr(ort, "preload_dlls", None)
    if preload is None:
        _cuda_prepared = "torch's CUDA libraries (onnxruntime has no preload_dlls)"
        return _cuda_prepared
    try:
        preload(cuda=True, cudnn=True, msvc=False)
        _cuda_prepared = "torch's CUDA libraries, then onnxruntime.preload_dlls()"
    except Exception as exc:  # noqa: BLE001 (a failed preload must not stop the CPU path)
        _cuda_prepared = f"onnxruntime.preload_dlls() failed: {type(exc).__name__}: {exc}"
    return _cuda_prepared


def fallbacks() -> list[str]:
    """The reasons CUDA sessions fell back to the CPU in this process (empty: none)."""
    return list(_fallbacks)


def _note_fallback(reason: str) -> None:
    if reason not in _fallbacks:
        _fallbacks.append(reason)
        log.warning("ONNX Runtime: %s", reason)


def providers_for(device: str) -> list[str]:
    import onnxruntime as ort

    available = ort.get_available_providers()
    wanted = ["CPUExecutionProvider"]
    if device in ("auto", "cuda") and "CUDAExecutionProvider" in available and gpu_present():
        wanted.insert(0, "CUDAExecutionProvider")
    return wanted


@dataclass
class Session:
    """An onnxruntime session and the provider it really runs on.

    ``io_binding``: inputs and the logits are bound on the provider's device
    (:meth:`run_bound`); on by default for the CUDA provider, off for the CPU one."""

    session: Any
    provider: str
    input_names: list[str]
    io_binding: bool = False
    #: The device's index for the CUDA provider's bound inputs and outputs.
    device_id: int = 0

    @property
    def batch_size(self) -> int:
        """Images per evaluation batch on this provider (:data:`BATCH_SIZE`)."""
        return BATCH_SIZE.get(self.provider, BATCH_SIZE["CPUExecutionProvider"])

    @property
    def device_type(self) -> str:
        return "cuda" if self.provider == "CUDAExecutionProvider" else "cpu"

    def __call__(self, *inputs: Any) -> Any:
        """The logits (numpy float32) for numpy inputs (or CUDA torch tensors when
        bound)."""
        if self.io_binding:
            return self.run_bound(*inputs)
        feeds = dict(zip(self.input_names, inputs, strict=True))
        return self.session.run(["logits"], feeds)[0]

    def run_bound(self, *inputs: Any) -> Any:
        """Run through IO binding: a numpy input is copied onto the device once, a
        torch tensor already on it is bound in place; the logits are written on the
        device and copied to the host at the end."""
        import numpy as np
        import onnxruntime as ort

        binding = self.session.io_binding()
        keep = []  # bound buffers must outlive the run
        for name, x in zip(self.input_names, inputs, strict=True):
            if hasattr(x, "data_ptr"):  # a torch tensor
                tensor = x.detach().contiguous().float()
                on = "cuda" if tensor.is_cuda else "cpu"
                if tensor.is_cuda:  # ONNX Runtime reads it on its own stream
                    import torch

                    torch.cuda.current_stream(tensor.device).synchronize()
                binding.bind_input(
                    name,
                    on,
                    (tensor.device.index or 0) if tensor.is_cuda else 0,
                    np.float32,
                    list(tensor.shape),
                    tensor.data_ptr(),
                )
                keep.append(tensor)
            else:
                value = ort.OrtValue.ortvalue_from_numpy(
                    np.ascontiguousarray(x, dtype=np.float32), self.device_type, self.device_id
                )
                binding.bind_ortvalue_input(name, value)
                keep.append(value)
        binding.bind_output("logits", self.device_type, self.device_id)
        binding.synchronize_inputs()
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return binding.copy_outputs_to_cpu()[0]


def open_session(
    path: Path,
    device: str = "auto",
    threads: int | None = None,
    spinning: bool = True,
    io_binding: bool | None = None,
) -> Session:
    """A session on the best provider ``device`` allows. ``spinning=False``: idle
    intra-op threads sleep instead of spinning (spinning threads starve whatever runs
    next on the CPU: 1.3-1.5x on a shared 2-core machine, docs/benchmarks.md).
    ``io_binding``: None binds inputs and outputs on the device for the CUDA provider
    only (:meth:`Session.run_bound`)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if threads:
        options.intra_op_num_threads = threads
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers: list[Any] = list(providers_for(device))
    wants_cuda = "CUDAExecutionProvider" in providers
    device_id = 0
    if wants_cuda and world().distributed:
        import torch

        # Under torchrun each rank runs on its own GPU (distributed.session set it).
        device_id = torch.cuda.current_device()
        providers[0] = ("CUDAExecutionProvider", {"device_id": device_id})
    prepared = prepare_cuda() if wants_cuda else ""
    try:
        session = ort.InferenceSession(str(path), options, providers=providers)
    except Exception as exc:  # noqa: BLE001 (onnxruntime raises its own types)
        if not wants_cuda:
            raise
        # Some builds raise instead of falling back when the CUDA libraries are missing.
        reason = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:200]}"
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        provider = "CPUExecutionProvider"
    else:
        provider = session.get_providers()[0]
        reason = "the provider did not start (onnxruntime logged why at its own level)"
    if wants_cuda and provider != "CUDAExecutionProvider":
        if device == "cuda":
            raise UserError(
                "--device cuda was asked for, but ONNX Runtime's CUDA provider did not start "
                f"(running on {provider}; {reason}; libraries: {prepared}). Check the GPU "
                "driver and that onnxruntime-gpu was built for the CUDA major version of "
                "torch (torch.version.cuda), or use --device auto."
            )
        _note_fallback(
            f"CUDA execution provider did not start, classifiers run on the CPU ({reason}; "
            f"libraries: {prepared})"
        )
    bind = provider == "CUDAExecutionProvider" if io_binding is None else io_binding
    return Session(session, provider, [i.name for i in session.get_inputs()], bind, device_id)


def parity(model: Any, session: Session, inputs: tuple[Any, ...]) -> float:
    """Max absolute logit difference between PyTorch and ONNX Runtime on one batch."""
    import numpy as np
    import torch

    model.eval()
    with torch.no_grad():
        expected = model(*[torch.from_numpy(np.ascontiguousarray(x)) for x in inputs]).numpy()
    got = session(*inputs)
    return float(np.max(np.abs(expected - got)))
