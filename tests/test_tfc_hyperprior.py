"""The ``tfc`` backend on a tiny hyperprior exported as a tfci-style metagraph.

No network: :mod:`tests.tfc_model` builds the model from tensorflow-compression layers
and writes ``bmshj2018-hyperprior-msssim-1.metagraph`` with ``sender``/``receiver``
signatures, which the plugin loads through its real loader.
"""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

pytest.importorskip("tensorflow_compression", reason="the [tf] extra is not installed")

from click.testing import CliRunner  # noqa: E402

from jpegai_eval.codecs import tfc_metagraph  # noqa: E402
from jpegai_eval.codecs.tfc_cli import tensors_command  # noqa: E402
from jpegai_eval.codecs.tfc_hyperprior import (  # noqa: E402
    TfcHyperprior,
    pack_tensors,
    unpack_tensors,
)
from jpegai_eval.framework.api.bitstream import bits_per_pixel, unpack  # noqa: E402
from jpegai_eval.framework.errors import BitstreamError, WeightsError  # noqa: E402

MODEL = "bmshj2018-hyperprior-msssim-1"


@pytest.fixture(scope="session")
def tiny(tmp_path_factory):
    """(folder holding the metagraph, the TinyHyperprior it was exported from)."""
    from tests.tfc_model import build_metagraph

    folder = tmp_path_factory.mktemp("tfc_metagraphs")
    model = build_metagraph(folder / f"{MODEL}.metagraph")
    return folder, model


@pytest.fixture(scope="session")
def loaded(tiny):
    folder, _ = tiny
    return TfcHyperprior("msssim").load(1, weights=str(folder))


@pytest.fixture
def image():
    return np.random.RandomState(0).randint(0, 256, (64, 48, 3), dtype=np.uint8)


def test_round_trip_and_rate_from_bytes(loaded, image):
    data = loaded.encode(image)
    header, payload = unpack(data)
    assert (header.codec, header.backend, header.quality) == ("hyperprior-msssim", "tfc", 1)
    assert (header.height, header.width) == (64, 48)
    assert header.latent_shape == (8, 4, 3)
    assert header.weights_id == loaded.weights_id

    decoded = loaded.decode(data)
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.array_equal(decoded, loaded.decode(data))  # deterministic

    # The payload is the sender's outputs: y strings, z strings and three shapes.
    values = unpack_tensors(payload, ["string", "string", "int32", "int32", "int32"])
    assert [v.tolist() for v in values[2:]] == [[64, 48], [4, 3], [1, 1]]
    assert bits_per_pixel(data, 64, 48) == 8 * len(data) / (64 * 48)


def test_decode_matches_the_receiver_signature(loaded, image):
    import tensorflow as tf

    data = loaded.encode(image)
    sent = loaded.graph.sender(tf.constant(image[None]))
    (expected,) = loaded.graph.receiver(*sent)
    assert np.array_equal(loaded.decode(data), expected.numpy()[0])


def test_latents_equal_the_models_quantized_latent(tiny, loaded, image):
    _, model = tiny
    latents = loaded.latents(loaded.encode(image))
    reference = model.reference(image)
    assert set(latents) == {"y_hat", "sigma_hat"}
    for key in ("y_hat", "sigma_hat"):
        assert latents[key].dtype == np.float32
        assert latents[key].shape == (8, 4, 3)
    np.testing.assert_array_equal(latents["y_hat"], reference["y_hat"][0].transpose(2, 0, 1))
    np.testing.assert_allclose(
        latents["sigma_hat"], reference["sigma_hat"][0].transpose(2, 0, 1), rtol=1e-5, atol=1e-5
    )


def test_latents_path_never_runs_the_synthesis_transform(loaded):
    graph = loaded.graph
    g_s = graph.scope_pattern("synthesis")
    h_s = graph.scope_pattern("hyper_synthesis")

    def synthesis_ops(fn):
        return [
            op.name
            for op in fn.graph.get_operations()
            if g_s.search(op.name) and not h_s.search(op.name)
        ]

    assert synthesis_ops(graph.receiver), "the receiver must run g_s (sanity check)"
    assert synthesis_ops(graph.compressed) == []
    # ... while it does run h_s (sigma_hat) and the entropy decoders.
    assert any(h_s.search(op.name) for op in graph.compressed.graph.get_operations())
    types = {op.type for op in graph.compressed.graph.get_operations()}
    assert any("Decode" in t for t in types)


def test_discovered_tensor_names(loaded):
    found = loaded.graph.latent_tensors
    assert found.how == {"y_hat": "discovered", "sigma_hat": "discovered"}
    assert re.match(r"location_scale_indexed_entropy_model/", found.names["y_hat"])
    assert re.match(r"hyper_synthesis(_\d+)?/", found.names["sigma_hat"])
    assert loaded.latent_spec.channels == 8 and loaded.latent_spec.stride == 16
    assert loaded.codec.latent_spec(1) == loaded.latent_spec
    # Before loading, the published models' latent (M = 192 at qualities 1-5, else 320).
    assert TfcHyperprior("msssim").latent_spec(1).channels == 192
    assert TfcHyperprior("msssim").latent_spec(8).channels == 320


def test_tensor_names_are_configurable(tiny, loaded, monkeypatch, image):
    folder, _ = tiny
    names = loaded.graph.latent_tensors.names
    monkeypatch.setenv(
        tfc_metagraph.TENSORS_ENV, f"y_hat={names['y_hat']},sigma_hat={names['sigma_hat']}"
    )
    model = TfcHyperprior("msssim").load(1, weights=str(folder))
    assert model.graph.latent_tensors.how == {"y_hat": "configured", "sigma_hat": "configured"}

    monkeypatch.setenv(tfc_metagraph.TENSORS_ENV, "y_hat=no/such/tensor:0")
    with pytest.raises(WeightsError, match=r"no/such/tensor:0.*codec tensors"):
        TfcHyperprior("msssim").load(1, weights=str(folder))
    monkeypatch.setenv(tfc_metagraph.TENSORS_ENV, "x_hat=foo")
    with pytest.raises(WeightsError, match="x_hat=foo"):
        TfcHyperprior("msssim").load(1, weights=str(folder))


def test_weights_file_folder_and_default_cache(tiny, monkeypatch, tmp_path):
    folder, _ = tiny
    codec = TfcHyperprior("msssim")
    file = folder / f"{MODEL}.metagraph"
    assert codec.metagraph_path(1, str(file)) == file
    assert codec.metagraph_path(1, str(folder)) == file
    cache = tmp_path / "cache"
    cache.mkdir()
    shutil.copy(file, cache)
    monkeypatch.setenv(tfc_metagraph.CACHE_ENV, str(cache))
    assert codec.metagraph_path(1) == cache / f"{MODEL}.metagraph"
    assert codec.metagraph_path(1, "pretrained") == cache / f"{MODEL}.metagraph"
    # --weights-dir is the cache folder for pretrained weights (as the codec CLI passes it)
    assert codec.metagraph_path(1, None, str(folder)) == file
    model = codec.load(1, weights="pretrained", weights_dir=str(folder))
    assert model.graph.path == file


def test_missing_metagraph_is_downloaded_from_the_url_prefix(tiny, monkeypatch, tmp_path):
    folder, _ = tiny
    monkeypatch.setenv(tfc_metagraph.URL_ENV, folder.as_uri())  # a local "server"
    target = tmp_path / "new-cache"
    path = TfcHyperprior("msssim").metagraph_path(1, str(target))
    assert path == target / f"{MODEL}.metagraph"
    assert path.read_bytes() == (folder / f"{MODEL}.metagraph").read_bytes()


def test_offline_error_names_file_folder_and_url(monkeypatch, tmp_path):
    offline = (tmp_path / "nowhere").as_uri()
    monkeypatch.setenv(tfc_metagraph.URL_ENV, offline)
    monkeypatch.setenv(tfc_metagraph.CACHE_ENV, str(tmp_path / "empty"))
    with pytest.raises(WeightsError) as info:
        TfcHyperprior("mse").load(3)
    message = info.value.message
    assert "bmshj2018-hyperprior-mse-3.metagraph" in message
    assert str(tmp_path / "empty") in message
    assert f"{offline}/bmshj2018-hyperprior-mse-3.metagraph" in message
    assert "--weights-dir" in message


def test_bad_weights_are_user_errors(tmp_path):
    codec = TfcHyperprior("msssim")
    with pytest.raises(WeightsError, match="does not exist"):
        codec.load(1, weights=str(tmp_path / "missing.metagraph"))
    with pytest.raises(WeightsError, match="no 'demo' weights"):
        TfcHyperprior("mse").load(1, weights="demo")  # demo metagraphs: msssim q1, q4, q8
    junk = tmp_path / "junk.metagraph"
    junk.write_bytes(b"\xff\x00 not a protobuf")
    with pytest.raises(WeightsError, match="not a TensorFlow metagraph"):
        codec.load(1, weights=str(junk))


def test_foreign_or_damaged_bitstreams_are_refused(loaded, image):
    data = loaded.encode(image)
    with pytest.raises(BitstreamError):
        loaded.latents(data[:-3])
    other = TfcHyperprior("mse")
    other_model = type(loaded)(other, 1, loaded.graph, "cpu")
    with pytest.raises(BitstreamError, match="hyperprior-msssim/tfc"):
        other_model.decode(data)


def test_pack_tensors_round_trip():
    values = [
        np.array([b"\x00y-bits"], dtype=object),
        np.array([b""], dtype=object),
        np.array([64, 48], dtype=np.int32),
    ]
    back = unpack_tensors(pack_tensors(values), ["string", "string", "int32"])
    assert back[0].tolist() == [b"\x00y-bits"] and back[1].tolist() == [b""]
    assert back[2].dtype == np.int32 and back[2].tolist() == [64, 48]
    with pytest.raises(BitstreamError, match="holds 3 tensors"):
        unpack_tensors(pack_tensors(values), ["string", "string"])


def test_tensors_command_lists_signatures_and_latents(tiny, loaded):
    folder, _ = tiny
    result = CliRunner().invoke(
        tensors_command,
        [
            "--backend",
            "tfc",
            "--codec",
            "hyperprior-msssim",
            "-q",
            "1",
            "--weights-dir",
            str(folder),
        ],
    )
    assert result.exit_code == 0, result.output
    names = loaded.graph.latent_tensors.names
    assert "sender signature:" in result.output and "receiver signature:" in result.output
    assert "input_image" in result.output and "output_image" in result.output
    assert f"y_hat      {names['y_hat']}" in result.output
    assert names["sigma_hat"] in result.output and "(discovered)" in result.output

    result = CliRunner().invoke(
        tensors_command,
        ["--backend", "compressai", "-q", "1", "--weights-dir", str(folder)],
    )
    assert result.exit_code == 2 and "--backend tfc" in result.output


def test_tensors_command_lists_candidates_when_discovery_fails(tiny, monkeypatch, image):
    folder, _ = tiny
    scopes = {"synthesis": "decoder", "hyper_synthesis": "hyper_decoder"}
    monkeypatch.setitem(tfc_metagraph.SCOPES, "bmshj2018-hyperprior", scopes)
    # Discovery is lazy: the model loads, encodes and decodes; only latents fail.
    model = TfcHyperprior("msssim").load(1, weights=str(folder))
    data = model.encode(image)
    assert model.decode(data).shape == image.shape
    with pytest.raises(WeightsError, match=r"Cannot find y_hat.*JPEGAI_EVAL_TFC_TENSORS"):
        model.latents(data)
    result = CliRunner().invoke(tensors_command, ["-q", "1", "--weights-dir", str(folder)])
    assert result.exit_code == 0, result.output
    assert "NOT FOUND: Cannot find y_hat" in result.output
    assert "location_scale_indexed_entropy_model/" in result.output  # among the candidates


def test_keeps_the_codec_contract_of_the_testing_kit(tiny):
    from jpegai_eval.testing import check_codec

    folder, _ = tiny
    report = check_codec(TfcHyperprior("msssim"), 1, str(folder))
    assert report.latent_shape == (8, 5, 6)  # ceil(72 / 16) x ceil(88 / 16)
    assert "model.decode()" in report.guarded
    assert "re-labelled (other weights)" in report.refused
