"""ONNX Runtime's CUDA provider (issue 16.4): a clear fallback to the CPU without a GPU,
and, where a GPU is present, a CUDA session that agrees with PyTorch."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.run import onnx_runtime

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


def _tiny(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(5)
    )
    x = torch.zeros(1, 3, 8, 8)
    model(x)
    path = onnx_runtime.export(model.eval(), (x,), ["input"], tmp_path / "tiny.onnx")
    return model, path


@pytest.mark.skipif(torch.cuda.is_available(), reason="tests the no-GPU fallback")
def test_cuda_asked_without_a_gpu_falls_back_with_one_line(tmp_path, monkeypatch, caplog):
    """Force the CUDA provider into the list on a machine without a GPU: the session
    must still open (on the CPU), say so once, and record it for run.json."""
    model, path = _tiny(tmp_path)
    monkeypatch.setattr(
        onnx_runtime,
        "providers_for",
        lambda device: ["CUDAExecutionProvider", "CPUExecutionProvider"],
    )
    monkeypatch.setattr(onnx_runtime, "_fallbacks", [])
    with caplog.at_level(logging.WARNING, logger=onnx_runtime.__name__):
        first = onnx_runtime.open_session(path, "auto")
        second = onnx_runtime.open_session(path, "auto")
    assert first.provider == second.provider == "CPUExecutionProvider"
    lines = [r.getMessage() for r in caplog.records if "CUDA execution provider" in r.getMessage()]
    assert len(lines) == 1 and "run on the CPU" in lines[0]
    assert onnx_runtime.fallbacks() == [lines[0].removeprefix("ONNX Runtime: ")]
    x = np.random.RandomState(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    assert onnx_runtime.parity(model, first, (x,)) < onnx_runtime.PARITY_TOLERANCE
    with pytest.raises(UserError, match="--device cuda was asked for"):
        onnx_runtime.open_session(path, "cuda")


def test_prepare_cuda_is_idempotent_and_says_what_it_did():
    a = onnx_runtime.prepare_cuda()
    assert a == onnx_runtime.prepare_cuda()
    assert "torch" in a or "preload_dlls" in a


@needs_gpu
def test_cuda_session_starts_next_to_torch_and_matches(tmp_path):
    model, path = _tiny(tmp_path)
    session = onnx_runtime.open_session(path, "cuda")
    assert session.provider == "CUDAExecutionProvider"
    x = np.random.RandomState(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    assert onnx_runtime.parity(model, session, (x,)) < onnx_runtime.PARITY_TOLERANCE
    assert onnx_runtime.fallbacks() == []
