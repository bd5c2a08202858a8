"""Registration of the ``tfc`` backend: listed always, usable only with TensorFlow."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from jpegai_eval.cli.listing import describe_plugins
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.framework.errors import UserError
from jpegai_eval.plugins import tfc_codecs


def _tfc_entries(info):
    return {c["id"]: c for c in info["codecs"] if c["backend"] == "tfc"}


def test_both_hyperpriors_are_registered_with_qualities_1_to_8():
    entries = _tfc_entries(describe_plugins(make_plugin_manager(load_external=False)))
    assert set(entries) == {"hyperprior-msssim", "hyperprior-mse"}
    for entry in entries.values():
        assert entry["qualities"] == list(range(1, 9))
        assert entry["compressed_domain"] is True
        assert entry["plugin"] == "jpegai_eval.plugins.tfc_codecs"


@pytest.mark.skipif(
    importlib.util.find_spec("tensorflow_compression") is None, reason="no [tf] extra"
)
def test_available_when_tensorflow_is_installed():
    entries = _tfc_entries(describe_plugins(make_plugin_manager(load_external=False)))
    assert entries["hyperprior-msssim"]["available"] is True
    assert tfc_codecs.unavailable_reason() is None


def test_missing_tensorflow_is_reported_not_hidden(monkeypatch):
    real = importlib.util.find_spec

    def find_spec(name, *args):
        return None if name.startswith("tensorflow") else real(name, *args)

    monkeypatch.setattr(tfc_codecs.importlib.util, "find_spec", find_spec)
    plugins = make_plugin_manager(load_external=False)
    entry = _tfc_entries(describe_plugins(plugins))["hyperprior-msssim"]
    assert entry["available"] is False
    reason = entry["unavailable_reason"]
    assert "TensorFlow and tensorflow-compression are not installed" in reason
    assert "pip install jpegai-eval[tf]" in reason
    codec = plugins.codecs.get("hyperprior-msssim/tfc")
    with pytest.raises(UserError, match=r"hyperprior-msssim/tfc is unavailable"):
        codec.load(1)
    with pytest.raises(UserError, match="unavailable"):
        plugins.codecs.resolve("hyperprior-msssim", "tfc")


def test_only_the_missing_package_is_named(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        tfc_codecs.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "tensorflow_compression" else real(name, *a),
    )
    assert tfc_codecs.unavailable_reason() == (
        "tensorflow-compression is not installed; install it with `pip install jpegai-eval[tf]`."
    )


def test_listing_plugins_does_not_import_tensorflow():
    code = (
        "import sys, jpegai_eval.plugins.tfc_codecs as p\n"
        "from jpegai_eval.framework.api.plugins import make_plugin_manager\n"
        "make_plugin_manager(load_external=False).codecs\n"
        "heavy = [m for m in ('tensorflow', 'tensorflow_compression') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
