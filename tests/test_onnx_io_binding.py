"""ONNX Runtime IO binding (issue 26, item 2): on for the CUDA provider, off for the
CPU one (whose path is unchanged); a bound run gives the logits an unbound run gives;
larger evaluation batches on the GPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jpegai_eval.framework.run import onnx_runtime

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU here")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.LazyLinear(5)
    )
    x = torch.zeros(1, 3, 8, 8)
    model(x)
    path = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    return model.eval(), onnx_runtime.export(model.eval(), (x,), ["input"], path)


def _inputs(n=6):
    return np.random.RandomState(0).standard_normal((n, 3, 8, 8)).astype(np.float32)


def test_the_cpu_provider_keeps_its_plain_path(tiny):
    _, path = tiny
    session = onnx_runtime.open_session(path, "cpu")
    assert session.provider == "CPUExecutionProvider"
    assert not session.io_binding and session.batch_size == 32


def test_the_cuda_provider_binds_and_takes_large_batches(tiny):
    """The selection rule, without a GPU: a session whose provider is CUDA binds by
    default and evaluates in batches of 256; asked explicitly, any session binds."""
    _, path = tiny
    plain = onnx_runtime.open_session(path, "cpu")
    cuda = onnx_runtime.Session(plain.session, "CUDAExecutionProvider", plain.input_names, True)
    assert cuda.batch_size == 256 and cuda.device_type == "cuda"
    assert onnx_runtime.open_session(path, "cpu", io_binding=True).io_binding


def test_a_bound_run_on_the_cpu_gives_the_same_logits(tiny):
    model, path = tiny
    x = _inputs()
    plain = onnx_runtime.open_session(path, "cpu")
    bound = onnx_runtime.open_session(path, "cpu", io_binding=True)
    expected = plain(x)
    got = bound(x)
    assert got.dtype == np.float32 and got.shape == (6, 5)
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(bound(torch.from_numpy(x)), expected)  # a torch tensor
    with torch.no_grad():
        np.testing.assert_allclose(got, model(torch.from_numpy(x)).numpy(), atol=1e-5)
    assert not np.array_equal(bound(x[:3] + 1), expected[:3])  # it computes, not caches


@needs_gpu
def test_cuda_io_binding_matches_pytorch_and_binds_gpu_tensors_in_place(tiny):
    model, path = tiny
    session = onnx_runtime.open_session(path, "cuda")
    assert session.provider == "CUDAExecutionProvider" and session.io_binding
    x = _inputs(300)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(session(x), expected, atol=onnx_runtime.PARITY_TOLERANCE)
    on_gpu = torch.from_numpy(x).cuda()
    np.testing.assert_allclose(session(on_gpu), expected, atol=onnx_runtime.PARITY_TOLERANCE)
    assert onnx_runtime.parity(model, session, (x[:32],)) < onnx_runtime.PARITY_TOLERANCE
