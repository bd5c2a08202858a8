"""A codec's origin (plugin, distribution, version) in run.json and in the cache key.

A plugin upgrade must not reuse the cache entries its previous version made, and a
run's record says which plugin release coded its images.
"""

from __future__ import annotations

import numpy as np

from jpegai_eval import Codec, CodecModel, hookimpl
from jpegai_eval.framework.api.plugins import Plugins, make_plugin_manager
from jpegai_eval.framework.run.cache import CacheCell
from jpegai_eval.framework.run.encode_stage import codec_origin, codec_provenance
from jpegai_eval.framework.version import __version__


class PluginModel(CodecModel):
    def _encode_payload(self, image):
        return image.tobytes(), ()

    def _decode_payload(self, payload, header):
        return np.frombuffer(payload, np.uint8).reshape(header.height, header.width, 3)


class PluginCodec(Codec):
    """Defined in a test module, which no installed distribution provides: only the
    registry knows which plugin release it belongs to."""

    id = "plugin-raw"
    backend = "test"
    qualities = (1,)

    def load(self, quality, weights=None, device="cpu", weights_dir=None):
        return PluginModel(self, self.check_quality(quality))


class MyCodecs:
    @hookimpl
    def register_codecs(self, register):
        register(PluginCodec())


def plugins_at(version: str) -> Plugins:
    """The built-in plugins and ``my_codecs`` of distribution ``my-codecs`` ``version``."""
    plugins = make_plugin_manager(load_external=False)
    plugins.pm.register(MyCodecs(), name="my_codecs")
    plugins.distributions["my_codecs"] = {"name": "my-codecs", "version": version}
    return plugins


def test_a_plugin_codec_is_attributed_to_its_plugins_distribution():
    plugins = plugins_at("1.0")
    codec = plugins.codecs.get("plugin-raw/test")
    origin = codec_origin(codec, plugins)
    assert (origin.plugin, origin.distribution, origin.version) == ("my_codecs", "my-codecs", "1.0")


def test_a_plugin_upgrade_does_not_reuse_the_cache_folder(tmp_path):
    roots = set()
    for version in ("1.0", "1.1"):
        plugins = plugins_at(version)
        codec = plugins.codecs.get("plugin-raw/test")
        provenance = codec_provenance(codec, None, codec_origin(codec, plugins))
        assert provenance["version"] == version
        roots.add(CacheCell.for_codec(tmp_path, codec.id, codec.backend, 1, "", provenance).root)
    assert len(roots) == 2


def test_a_built_in_codec_records_jpegai_evals_version_once():
    plugins = make_plugin_manager(load_external=False)
    codec = plugins.codecs.get("jpeg/pillow")
    origin = codec_origin(codec, plugins)
    assert (origin.distribution, origin.version) == ("jpegai-eval", __version__)
    assert origin.plugin.startswith("jpegai_eval.plugins.")
    provenance = codec_provenance(codec, None, origin)
    assert [v for v in provenance.values() if v == __version__] == [__version__]


def test_an_unregistered_codec_falls_back_to_its_modules_distribution():
    from importlib.metadata import packages_distributions

    origin = codec_origin(PluginCodec(), make_plugin_manager(load_external=False))
    top = PluginCodec.__module__.split(".")[0]
    assert origin.plugin == ""
    assert origin.distribution == (packages_distributions().get(top) or [top])[0]


def test_run_json_records_each_codecs_plugin_distribution_and_version(tmp_path):
    from jpegai_eval.framework.run.evaluator import Study, run_setup
    from jpegai_eval.framework.run.plan import RunConfig, make_plan

    plugins = plugins_at("2.3")
    config = RunConfig(
        codecs=["plugin-raw", "jpeg"],
        task="minc",
        task_options={"dataset": "minc", "data_root": str(tmp_path)},
        qualities=[1],
        preset="smoke",
        workers=1,
    )
    study = Study(make_plan(config, plugins), plugins, None, {}, {}, "cpu", 0.0)
    origins = run_setup(study)["codec_origins"]
    assert origins["plugin-raw/test"] == {
        "plugin": "my_codecs",
        "distribution": "my-codecs",
        "version": "2.3",
    }
    assert origins["jpeg/pillow"]["distribution"] == "jpegai-eval"
    assert origins["jpeg/pillow"]["version"] == __version__
