"""The ``tfc`` backend on a graph shaped like TFC's published metagraphs.

:mod:`tests.tfci_model` builds a tiny graph with the published models' layout (an integer
hyper synthesis giving a scale index into a 64-row CDF table, legacy
``UnboundedIndexRange*`` coding in v1 while loops, sender and receiver in one graph). The
tensor listings of the real graphs (``tests/data/tfci-tensors/``, copied from
``../shared/reference/tfci-tensors/``) check that every name the discovery uses on the
fixture exists in the real ones with the same dtype and rank.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tensorflow_compression", reason="the [tf] extra is not installed")

from click.testing import CliRunner  # noqa: E402

from jpegai_eval.codecs import tfc_metagraph  # noqa: E402
from jpegai_eval.codecs.tfc_cli import tensors_command  # noqa: E402
from jpegai_eval.codecs.tfc_hyperprior import TfcHyperprior  # noqa: E402
from jpegai_eval.framework.errors import WeightsError  # noqa: E402
from tests import tfci_model  # noqa: E402

MODEL = "bmshj2018-hyperprior-msssim-1"
LISTINGS = Path(__file__).parent / "data" / "tfci-tensors"
LINE = re.compile(r"^(\S+) \(dtype=(\w+), shape=(.*)\)$")
#: Constant folding names a folded constant ``<op>/_<i>__cf__<n>``, n differing per model.
FOLDED = re.compile(r"/_\d+__cf__\d+(?=:\d+$)")


@pytest.fixture(scope="module")
def published(tmp_path_factory):
    """(folder holding the metagraph, its CDF table / lengths / offsets)."""
    folder = tmp_path_factory.mktemp("tfci_metagraphs")
    info = tfci_model.build_metagraph(folder / f"{MODEL}.metagraph")
    return folder, info


@pytest.fixture(scope="module")
def model(published):
    folder, _ = published
    return TfcHyperprior("msssim").load(1, weights=str(folder))


@pytest.fixture
def image():
    return np.random.RandomState(1).randint(0, 256, (128, 96, 3), dtype=np.uint8)


def used_names(found):
    """Every tensor the discovery read on its way to the latents."""
    names = set(found.names.values()) | set(found.tables.values()) - {found.tables["decoder"]}
    for listed in found.candidates.values():
        names |= set(listed)
    return names


def test_discovery_finds_the_published_names(model):
    found = model.graph.latent_tensors
    assert found.names == {"y_hat": tfci_model.Y_HAT, "sigma_index": tfci_model.INDEX}
    assert found.how == {"y_hat": "discovered", "sigma_hat": "discovered"}
    # h_s ends in an integer clip; the index is that map cropped to y (GridAlign).
    assert found.candidates["sigma_hat"] == ["hyper_synthesis/layer_2/q_re_lu_2/clip_by_value:0"]
    assert found.tables["cdf"] == tfci_model.CDF
    assert found.tables["cdf_length"] == tfci_model.CDF_LENGTH
    assert found.tables["cdf_offset"] == tfci_model.CDF_OFFSET
    assert found.tables["decoder"].endswith("decompress/while/UnboundedIndexRangeDecode")
    assert found.mapping.startswith("sigma_hat = TFC's scale table")
    y_hat = model.graph.graph.get_tensor_by_name(tfci_model.Y_HAT)
    assert y_hat.dtype.name == "float32" and y_hat.shape.rank is None
    assert y_hat.op.inputs[0].op.type == "TensorArrayGatherV3"
    # M comes from the index's static shape (y_hat's is unknown, as in the real graphs).
    assert model.latent_spec.channels == 8 and model.latent_spec.sigma_channels == 8


def test_every_name_used_exists_in_the_published_listings(model):
    found = model.graph.latent_tensors
    names = used_names(found) | {tfci_model.INPUT, tfci_model.OUTPUT}
    files = sorted(LISTINGS.glob("*.tensors.txt"))
    assert len(files) == 4
    for path in files:
        sides: dict[str, dict[str, tuple[str, int | None]]] = {}
        side = ""
        for line in path.read_text().splitlines():
            if line.endswith("-side tensors:"):
                side = line.split("-")[0].lower()
                sides[side] = {}
            elif match := LINE.match(line):
                name, dtype, shape = match.groups()
                rank = None if shape == "<unknown>" else len(eval(shape))  # noqa: S307
                sides[side][FOLDED.sub("", name)] = (dtype, rank)
        assert set(sides) == {"sender", "receiver"}, path.name
        for name in sorted(names):
            tensor = model.graph.graph.get_tensor_by_name(name)
            expected = (tensor.dtype.name, tensor.shape.rank)
            listed = sides["receiver"].get(FOLDED.sub("", name))
            assert listed == expected, (path.name, name, expected)


def test_scales_derived_from_the_cdf_table_match_within_1_percent(published):
    _, info = published
    table = tfci_model.scale_table()
    derived, floor = tfc_metagraph.scales_from_cdf(info["cdf"], info["cdf_length"])
    ratio = derived / table - 1
    # At 16-bit precision only the 0.11 row is at the coder's floor (its neighbours get
    # the minimum count whatever the scale below ~0.115): its derivation is an upper bound.
    assert floor.tolist() == [True] + [False] * 63
    assert np.abs(ratio[~floor]).max() < 0.01, np.abs(ratio).max()
    assert derived[0] >= table[0]
    assert tfc_metagraph.check_scale_table(derived, floor) is None
    np.testing.assert_allclose(tfc_metagraph.tfc_scale_table(), table)
    # A table built from other scales is told apart (and would be used as derived).
    other, _, _ = tfci_model.gaussian_cdf_table(table * 1.05)
    derived, floor = tfc_metagraph.scales_from_cdf(other)
    assert np.abs(derived[~floor] / (table * 1.05)[~floor] - 1).max() < 0.01
    assert "differ by more than 1%" in tfc_metagraph.check_scale_table(derived, floor)


def test_latents_are_the_symbols_the_index_and_its_scale(model, image):
    import tensorflow as tf

    data = model.encode(image)
    latents = model.latents(data)
    assert set(latents) == {"y_hat", "sigma_hat", "sigma_index"}
    assert latents["y_hat"].shape == latents["sigma_hat"].shape == (8, 8, 6)
    assert latents["sigma_index"].dtype == np.int32
    assert latents["sigma_hat"].dtype == np.float32
    # The sender computes the same symbols and index from the image.
    graph = model.graph
    sender_side = graph.wrapped.prune(
        [graph.graph.get_tensor_by_name(tfci_model.INPUT)],
        [
            graph.graph.get_tensor_by_name("entropy_model/entropy_model_2/Cast:0"),
            graph.graph.get_tensor_by_name(tfci_model.INDEX),
        ],
    )
    symbols, index = (
        t.numpy()[0].transpose(2, 0, 1) for t in sender_side(tf.constant(image[None]))
    )
    np.testing.assert_array_equal(latents["y_hat"], symbols.astype(np.float32))
    np.testing.assert_array_equal(latents["sigma_index"], index)
    assert len(np.unique(index)) > 20  # the fixture spreads over the table
    np.testing.assert_array_equal(
        latents["sigma_hat"], tfci_model.scale_table().astype(np.float32)[index]
    )
    # The reconstruction is the receiver's.
    (expected,) = graph.receiver(*graph.sender(tf.constant(image[None])))
    np.testing.assert_array_equal(
        model.decode(data), np.clip(np.round(expected.numpy()[0]), 0, 255).astype(np.uint8)
    )


def test_encode_decode_work_when_discovery_fails(published, monkeypatch, image):
    folder, _ = published
    scopes = {"synthesis": "decoder", "hyper_synthesis": "hyper_decoder"}
    monkeypatch.setitem(tfc_metagraph.SCOPES, "bmshj2018-hyperprior", scopes)
    broken = TfcHyperprior("msssim").load(1, weights=str(folder))
    data = broken.encode(image)
    assert broken.decode(data).shape == image.shape
    assert broken.latent_spec.channels == 192  # the published M, as nothing was found
    with pytest.raises(WeightsError, match=r"Cannot find y_hat.*JPEGAI_EVAL_TFC_TENSORS"):
        broken.latents(data)


def test_a_configured_integer_sigma_is_mapped_to_scales(published, monkeypatch, image):
    folder, _ = published
    monkeypatch.setenv(
        tfc_metagraph.TENSORS_ENV, f"y_hat={tfci_model.Y_HAT},sigma_hat={tfci_model.INDEX}"
    )
    configured = TfcHyperprior("msssim").load(1, weights=str(folder))
    latents = configured.latents(configured.encode(image))
    assert configured.graph.latent_tensors.how["sigma_hat"] == "configured"
    np.testing.assert_array_equal(
        latents["sigma_hat"], tfci_model.scale_table().astype(np.float32)[latents["sigma_index"]]
    )


def test_tensors_command_shows_index_table_mapping_and_integer_candidates(published):
    folder, _ = published
    result = CliRunner().invoke(tensors_command, ["-q", "1", "--weights-dir", str(folder)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert f"y_hat      {tfci_model.Y_HAT}" in out
    assert f"sigma_index {tfci_model.INDEX}" in out
    assert f"cdf        {tfci_model.CDF}" in out
    assert "mapping    sigma_hat = TFC's scale table" in out
    assert "hyper_synthesis/layer_2/q_re_lu_2/clip_by_value:0" in out
    assert re.search(r"GridAlign/strided_slice:0 +int32 \(\?, \?, \?, 8\)", out)
