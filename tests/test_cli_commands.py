"""Every command is a plugin's: ``jpegai-eval --help`` lists exactly what the
``register_commands`` hooks add (built-in commands lazily, a third-party plugin's the
same way), and ``JPEGAI_EVAL_TRACE_PLUGINS=1`` shows each hook call on stderr."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from jpegai_eval import hookimpl
from jpegai_eval.cli.lazy import LazyCommand
from jpegai_eval.cli.registration import plugin_commands
from jpegai_eval.framework.api.plugins import make_plugin_manager
from jpegai_eval.framework.errors import DuplicateIdError

BUILT_IN = ["bench", "codec", "data", "fetch", "metrics", "plugins", "report", "run", "task"]


def test_help_lists_exactly_the_commands_the_hooks_register():
    # A fresh process: the group of this one may hold commands other tests added.
    code = (
        "import json, sys\n"
        "from click.testing import CliRunner\n"
        "from jpegai_eval.cli import cli\n"
        "from jpegai_eval.cli.registration import plugin_commands\n"
        "from jpegai_eval.framework.api.plugins import get_plugins\n"
        "out = CliRunner().invoke(cli, ['--help']).output\n"
        "listed = [line.split()[0] for line in out.split('Commands:')[1].splitlines() if line]\n"
        "hooked = [r.name for r in plugin_commands(get_plugins())]\n"
        "ends = ('.cli', '.cli.run', '.cli.fetch')\n"
        "loaded = sorted(m for m in sys.modules if m.endswith(ends))\n"
        "print(json.dumps([listed, hooked, loaded]))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    listed, hooked, loaded = json.loads(result.stdout)
    assert listed == sorted(hooked)
    assert sorted(hooked) == BUILT_IN
    # Listing them imported no command module (the package jpegai_eval.cli aside).
    assert loaded == ["jpegai_eval.cli"], loaded


def write_hello_distribution(folder: Path) -> Path:
    """An installed third-party plugin whose only hook is ``register_commands``."""
    (folder / "hello_plugin.py").write_text(
        "import click\n"
        "from jpegai_eval import hookimpl\n\n\n"
        "@click.command('hello-plugin')\n"
        "@click.option('--name', default='world')\n"
        "def hello(name):\n"
        "    '''Say hello from a third-party plugin.'''\n"
        "    click.echo(f'hello {name}')\n\n\n"
        "@hookimpl\n"
        "def register_commands(cli):\n"
        "    cli.add_command(hello)\n"
    )
    info = folder / "hello_plugin-0.2.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hello-plugin\nVersion: 0.2\n")
    (info / "entry_points.txt").write_text("[jpegai_eval]\nhello = hello_plugin\n")
    return folder


def test_a_third_party_command_is_listed_and_runs_like_a_built_in(tmp_path, console_script):
    folder = write_hello_distribution(tmp_path)
    env = dict(os.environ, JPEGAI_EVAL_LOAD_PLUGINS="hello")
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), env.get("PYTHONPATH")]))

    def script(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [console_script, *args], capture_output=True, text=True, env=env, timeout=120
        )

    help_text = script("--help")
    assert help_text.returncode == 0, help_text.stderr
    assert "  hello-plugin  Say hello from a third-party plugin." in help_text.stdout
    assert "  run " in help_text.stdout
    ran = script("hello-plugin", "--name", "there")
    assert (ran.returncode, ran.stdout) == (0, "hello there\n"), ran.stderr


class Shadow:
    @hookimpl
    def register_commands(self, cli):
        cli.add_command(click.Command("run"))


def test_a_second_command_of_the_same_name_names_both_plugins():
    plugins = make_plugin_manager(load_external=False)
    plugins.pm.register(Shadow(), name="shadow")
    with pytest.raises(DuplicateIdError, match="'run'.*'jpegai_eval.plugins.commands'.*'shadow'"):
        plugin_commands(plugins)


def test_a_lazy_command_runs_the_real_one_in_any_click_group():
    group = click.Group("any")
    group.add_command(LazyCommand("m", "jpegai_eval.cli.metrics:metrics_command", "Short."))
    assert "  m  Short." in CliRunner().invoke(group, ["--help"]).output
    result = CliRunner().invoke(group, ["m", "--help"])
    assert result.exit_code == 0, result.output
    assert "Print the fidelity metrics of DECODED against ORIGINAL" in result.output
    with pytest.raises(ValueError, match="not 'module:attribute'"):
        LazyCommand("x", "jpegai_eval.cli.metrics", "Short.")


def test_trace_plugins_prints_each_hook_call_with_the_plugins_that_answered(monkeypatch, capsys):
    monkeypatch.setenv("JPEGAI_EVAL_TRACE_PLUGINS", "1")
    plugins = make_plugin_manager(load_external=False)
    plugins.registries  # noqa: B018 (calls the register_* hooks)
    plugins.pm.hook.register_commands(cli=click.Group("scratch"))
    lines = capsys.readouterr().err.splitlines()
    assert (
        "jpegai-eval: hook register_codecs: jpegai_eval.plugins.compressai_codecs, "
        "jpegai_eval.plugins.pillow_codecs, jpegai_eval.plugins.tfc_codecs"
    ) in lines
    assert "jpegai-eval: hook register_anchors: jpegai_eval.plugins.anchors" in lines
    # Through pm.hook, pluggy calls the last-registered plugin first.
    assert lines[-1] == (
        "jpegai-eval: hook register_commands: jpegai_eval.plugins.metrics, "
        "jpegai_eval.plugins.fetch, jpegai_eval.plugins.bench, jpegai_eval.plugins.commands"
    )
    monkeypatch.delenv("JPEGAI_EVAL_TRACE_PLUGINS")
    make_plugin_manager(load_external=False).registries  # noqa: B018
    assert capsys.readouterr().err == ""
