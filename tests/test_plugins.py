"""The plugin manager, the hooks and the registries."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jpegai_eval import hookimpl
from jpegai_eval.framework.api import hookspecs
from jpegai_eval.framework.api.plugins import DEFAULT_PLUGINS, make_plugin_manager
from jpegai_eval.framework.api.types import Anchor, Codec, CodecModel, ReportWriter, Sample, Task
from jpegai_eval.framework.errors import (
    DuplicateIdError,
    PluginError,
    UnknownNameError,
    UsageError,
    UserError,
)

ROOT = Path(__file__).resolve().parents[1]
HOOKS = sorted(
    name
    for name, fn in vars(hookspecs).items()
    if inspect.isfunction(fn) and hasattr(fn, "jpegai_eval_spec")
)


class TinyModel(CodecModel):
    def _encode_payload(self, image):
        return image.tobytes(), ()

    def _decode_payload(self, payload, header):
        import numpy as np

        return np.frombuffer(payload, np.uint8).reshape(header.height, header.width, 3)


class TinyCodec(Codec):
    backend = "raw"
    qualities = (1, 2)

    def __init__(self, codec_id="tiny", backend="raw"):
        self.id = codec_id
        self.backend = backend

    def load(self, quality, weights=None, device="cpu", weights_dir=None):
        return TinyModel(self, self.check_quality(quality))


class TinyTask(Task):
    id = "tiny-task"

    @property
    def classes(self):
        return ("a", "b")

    def samples(self, split, **options):
        return [Sample("x.png", Path("x.png"), 0)]

    def build_classifier(self, domain, latent_spec=None):
        return None

    def train(self, model, items, *, preset, domain, out_dir, device, workers, seed):
        return None

    def eval_batch(self, sources, domain, preset):
        return None


class TinyWriter(ReportWriter):
    id = "tiny-writer"
    outputs = ("tiny.txt",)

    def write(self, run_dir, out_dir):
        path = Path(out_dir) / "tiny.txt"
        path.write_text("ok")
        return [path]


class TestPlugin:
    """One object implementing every hook, as a third-party plugin would."""

    @hookimpl
    def register_codecs(self, register):
        register(TinyCodec())

    @hookimpl
    def register_tasks(self, register):
        register(TinyTask())

    @hookimpl
    def register_anchors(self, register):
        register(Anchor("anchor-x", "X", "pixel", "decoded", "original"))

    @hookimpl
    def register_report_writers(self, register):
        register(TinyWriter())

    @hookimpl
    def register_metrics(self, register):
        from jpegai_eval.framework.api.metric_types import RGB8, Metric

        register(Metric("tiny-metric", True, "", RGB8, lambda pairs: [0.0] * len(pairs)))

    @hookimpl
    def register_commands(self, cli):
        @cli.command(name="hello-plugin")
        def hello():
            click.echo("hello from a plugin")


@pytest.fixture
def plugins():
    p = make_plugin_manager(load_external=False)
    p.pm.register(TestPlugin(), name="test-plugin")
    return p


def test_hooks_are_the_documented_six():
    assert HOOKS == [
        "register_anchors",
        "register_codecs",
        "register_commands",
        "register_metrics",
        "register_report_writers",
        "register_tasks",
    ]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_documented_with_its_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    signature = f"{hook}({params})"
    docs = "".join(p.read_text() for p in [ROOT / "README.md", *ROOT.glob("docs/*.md")])
    assert signature in docs, f"{signature} is not documented in README.md or docs/"
    assert getattr(hookspecs, hook).__doc__.strip(), f"{hook} has no docstring"


def test_every_hook_registers_into_its_registry(plugins):
    assert plugins.codecs.get("tiny/raw").id == "tiny"
    assert plugins.codecs.origin("tiny/raw").plugin == "test-plugin"
    assert plugins.tasks.get("tiny-task").classes == ("a", "b")
    assert plugins.anchors.get("anchor-x").train_on == "decoded"
    assert plugins.report_writers.get("tiny-writer").outputs == ("tiny.txt",)
    assert plugins.metrics.get("tiny-metric").higher_is_better


def test_a_writer_with_only_write_still_works_under_report_options(tmp_path):
    """ReportWriter.write_with (what `report` calls, with its options) defaults to the
    writer's own write(run_dir, out_dir): writers written before the options work."""
    from jpegai_eval.framework.api.types import ReportOptions

    [path] = TinyWriter().write_with(tmp_path, tmp_path, ReportOptions(bd_anchor="jpeg"))
    assert path == tmp_path / "tiny.txt" and path.read_text() == "ok"


def test_register_commands_adds_a_working_command(plugins):
    group = click.Group("test-cli")
    plugins.pm.hook.register_commands(cli=group)
    result = CliRunner().invoke(group, ["hello-plugin"])
    assert result.exit_code == 0, result.output
    assert result.output == "hello from a plugin\n"


def test_builtin_plugins_register_first_and_are_attributed(plugins):
    entries = list(plugins.anchors.entries())
    assert [e.obj.id for e in entries][:4] == ["anchor1", "anchor2", "anchor3", "compressed"]
    assert entries[0].plugin == "jpegai_eval.plugins.anchors"
    assert entries[0].distribution["name"] == "jpegai-eval"
    assert entries[-1].plugin == "test-plugin"
    assert "jpegai_eval.plugins.anchors" in DEFAULT_PLUGINS


def test_duplicate_id_names_both_plugins():
    class Twin:
        @hookimpl
        def register_codecs(self, register):
            register(TinyCodec())

    p = make_plugin_manager(load_external=False)
    p.pm.register(TestPlugin(), name="first-plugin")
    p.pm.register(Twin(), name="second-plugin")
    with pytest.raises(DuplicateIdError) as info:
        p.codecs  # noqa: B018 - registries are filled on first access
    message = str(info.value)
    assert "tiny/raw" in message
    assert "first-plugin" in message and "second-plugin" in message


def test_same_codec_id_with_another_backend_is_not_a_duplicate(plugins):
    class OtherBackend:
        @hookimpl
        def register_codecs(self, register):
            register(TinyCodec(backend="other"))

    plugins.pm.register(OtherBackend(), name="other-backend")
    assert plugins.codecs.backends("tiny") == ["raw", "other"]
    assert plugins.codecs.resolve("tiny").backend == "raw"
    assert plugins.codecs.resolve("tiny", "other").backend == "other"
    with pytest.raises(UsageError, match="has no backend 'nope'; its backends are raw, other"):
        plugins.codecs.resolve("tiny", "nope")


def test_unknown_id_lists_the_known_ones(plugins):
    with pytest.raises(UnknownNameError) as info:
        plugins.codecs.resolve("nope")
    assert info.value.exit_code == 2
    assert "Unknown codec: 'nope'" in info.value.message
    assert "tiny" in info.value.message
    with pytest.raises(UnknownNameError, match="Known anchors: .*anchor1"):
        plugins.anchors.get("anchor9")


def test_registering_the_wrong_type_fails_at_registration():
    class Wrong:
        @hookimpl
        def register_tasks(self, register):
            register(TinyCodec())

    p = make_plugin_manager(load_external=False)
    p.pm.register(Wrong(), name="wrong-plugin")
    with pytest.raises(TypeError, match="wrong-plugin.*not a .*Task"):
        p.tasks  # noqa: B018


def test_unavailable_codec_is_listed_but_refused_with_its_reason(plugins):
    class Missing:
        @hookimpl
        def register_codecs(self, register):
            codec = TinyCodec("needs-tf", "tf")
            codec.unavailable_reason = "TensorFlow is not installed; pip install x[tf]"
            register(codec)

    plugins.pm.register(Missing(), name="missing")
    assert "needs-tf/tf" in plugins.codecs
    with pytest.raises(UserError, match="unavailable: TensorFlow is not installed"):
        plugins.codecs.resolve("needs-tf")


def test_quality_out_of_range_names_the_ladder():
    with pytest.raises(UsageError, match="no quality 9; its qualities are 1, 2"):
        TinyCodec().check_quality(9)


def test_anchor_rejects_unknown_domain():
    with pytest.raises(ValueError, match="domain must be one of"):
        Anchor("a", "A", "frequency", "original", "original")


def test_hook_implementation_may_take_fewer_arguments():
    """pluggy's rule: an implementation may accept fewer arguments than its spec."""

    class NoArgs:
        called = False

        @hookimpl
        def register_codecs(self):
            NoArgs.called = True

    p = make_plugin_manager(load_external=False)
    p.pm.register(NoArgs(), name="no-args")
    p.codecs  # noqa: B018
    assert NoArgs.called


def test_codec_model_round_trips_through_the_container(plugins):
    import numpy as np

    image = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    model = plugins.codecs.resolve("tiny").load(2)
    data = model.encode(image)
    assert data[:4] == b"JPAI"
    assert np.array_equal(model.decode(data), image)
    with pytest.raises(UserError, match="made by tiny/raw at quality 2"):
        plugins.codecs.resolve("tiny").load(1).decode(data)
    with pytest.raises(UserError, match=r"\(H, W, 3\) uint8"):
        model.encode(image.astype(np.float32))
    with pytest.raises(UserError, match="no compressed domain"):
        model.latents(data)


def test_readme_quickstart_starts_with_make_venv_and_make_test():
    readme = (ROOT / "README.md").read_text()
    commands = re.findall(r"^\s*(make \w+)", readme, flags=re.M)
    assert commands[:2] == ["make venv", "make test"]


# ------------------------------------------- unknown hooks, and what each plugin registered


class TypoPlugin:
    @hookimpl
    def register_codec(self, register):  # the spec is register_codecs
        register(TinyCodec())


def test_unknown_hook_name_fails_naming_the_plugin_and_the_hook():
    p = make_plugin_manager(load_external=False)
    p.pm.register(TypoPlugin(), name="typo-plugin")
    with pytest.raises(PluginError) as info:
        p.codecs  # noqa: B018 - registries are filled on first access
    message = info.value.message
    assert "Plugin 'typo-plugin' implements an unknown hook 'register_codec'" in message
    assert "did you mean 'register_codecs'?" in message
    assert "\n" not in message and isinstance(info.value, UserError)


def write_typo_distribution(folder: Path) -> Path:
    """An installed plugin (a module and its .dist-info with an entry point) on a folder
    that goes on sys.path, as pip would install it."""
    (folder / "typo_plugin.py").write_text(
        "from jpegai_eval import hookimpl\n\n\n"
        "@hookimpl\n"
        "def register_codec(register):\n"
        "    raise AssertionError('never called')\n"
    )
    info = folder / "typo_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: typo-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[jpegai_eval]\ntypo = typo_plugin\n")
    return folder


def test_unknown_hook_in_an_installed_plugin_fails_at_start(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(write_typo_distribution(tmp_path)))
    monkeypatch.setenv("JPEGAI_EVAL_LOAD_PLUGINS", "typo")
    with pytest.raises(PluginError, match=r"Plugin 'typo' \(typo-plugin 0.1\) implements an"):
        make_plugin_manager()


def test_plugins_command_exits_non_zero_on_an_unknown_hook(tmp_path, console_script):
    import os
    import subprocess

    folder = write_typo_distribution(tmp_path)
    env = dict(os.environ, JPEGAI_EVAL_LOAD_PLUGINS="typo")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [console_script, "plugins"], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1, result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("Error: Plugin 'typo' (typo-plugin 0.1) implements an unknown ")
    assert "'register_codec' (did you mean 'register_codecs'?)" in lines[0]


def test_plugin_listing_shows_each_plugin_with_its_hooks_and_registrations(plugins):
    from jpegai_eval.cli.listing import describe_plugins, format_plugins

    info = describe_plugins(plugins)
    listed = {p["name"]: p for p in info["plugins"]}
    assert list(listed)[: len(DEFAULT_PLUGINS)] == list(DEFAULT_PLUGINS)
    test_plugin = listed["test-plugin"]
    assert test_plugin["hooks"] == HOOKS
    assert test_plugin["registered"] == {
        "codecs": ["tiny/raw"],
        "tasks": ["tiny-task"],
        "anchors": ["anchor-x"],
        "report_writers": ["tiny-writer"],
        "metrics": ["tiny-metric"],
        "commands": ["hello-plugin"],
    }
    assert listed["jpegai_eval.plugins.bench"]["registered"]["commands"] == ["bench"]
    assert listed["jpegai_eval.plugins.anchors"]["distribution"]["name"] == "jpegai-eval"
    text = format_plugins(info)
    assert "Plugins:\n  jpegai_eval.plugins.compressai_codecs (jpegai-eval" in text
    assert "  test-plugin\n      hooks: register_anchors, register_codecs," in text
    assert "      commands: hello-plugin" in text
