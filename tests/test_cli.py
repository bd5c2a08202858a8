"""The command line, in-process through CliRunner and as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from click.testing import CliRunner

from jpegai_eval import __version__
from jpegai_eval.cli import cli


def run_script(console_script, *args, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "JPEGAI_EVAL_LOAD_PLUGINS"}
    env.update(env_extra or {})
    return subprocess.run(
        [console_script, *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_help_lists_commands():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "plugins" in result.output
    assert "Evaluate learned image compression for machines" in result.output


def test_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"jpegai-eval, version {__version__}"


def test_plugins_json_shape():
    result = CliRunner().invoke(cli, ["plugins", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert set(info) == {"plugins", "codecs", "tasks", "anchors", "report_writers", "metrics"}
    metrics = {m["id"]: m for m in info["metrics"]}
    assert metrics["nlpd"]["higher_is_better"] is False and "fast" in metrics["psnr_y"]["sets"]
    anchors = {a["id"]: a for a in info["anchors"]}
    assert set(anchors) >= {"anchor1", "anchor2", "anchor3", "compressed"}
    assert anchors["compressed"]["domain"] == "latent"
    assert anchors["anchor1"]["distribution"] == {"name": "jpegai-eval", "version": __version__}
    for codec in info["codecs"]:
        assert {"id", "backend", "qualities", "plugin", "distribution"} <= set(codec)


def test_plugins_table():
    result = CliRunner().invoke(cli, ["plugins"])
    assert result.exit_code == 0
    assert "Anchors:" in result.output
    assert "from jpegai_eval.plugins.anchors (jpegai-eval" in result.output


def test_console_script_lists_the_example_plugin_with_its_distribution(console_script):
    result = run_script(console_script, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    codecs = {c["id"]: c for c in json.loads(result.stdout)["codecs"]}
    assert "downsample-png" in codecs, "run `make venv` to install the example plugin"
    example = codecs["downsample-png"]
    assert example["distribution"]["name"] == "jpegai-eval-example-codec"
    assert example["plugin"] == "example_codec"
    assert example["qualities"] == [1, 2, 3, 4]


def test_empty_load_plugins_hides_external_plugins(console_script):
    result = run_script(
        console_script, "plugins", "--json", env_extra={"JPEGAI_EVAL_LOAD_PLUGINS": ""}
    )
    assert result.returncode == 0, result.stderr
    ids = [c["id"] for c in json.loads(result.stdout)["codecs"]]
    assert "downsample-png" not in ids


def test_load_plugins_by_distribution_name(console_script):
    result = run_script(
        console_script,
        "plugins",
        "--json",
        env_extra={"JPEGAI_EVAL_LOAD_PLUGINS": "jpegai-eval-example-codec"},
    )
    ids = [c["id"] for c in json.loads(result.stdout)["codecs"]]
    assert "downsample-png" in ids


def test_help_and_plugins_do_not_import_heavy_frameworks():
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from jpegai_eval.cli import cli\n"
        "for args in (['--help'], ['plugins', '--json']):\n"
        "    r = CliRunner().invoke(cli, args)\n"
        "    assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'tensorflow', 'onnxruntime', 'compressai') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "", f"imported at start-up: {result.stdout}"


def test_unknown_codec_is_one_line_exit_2_no_traceback(console_script):
    result = run_script(console_script, "run", "--codec", "nope", "--task", "minc")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("Error: Unknown codec: 'nope'. Known codecs:")
    assert "Traceback" not in result.stderr


def test_console_script_lists_the_example_plugin_as_a_plugin(console_script):
    result = run_script(console_script, "plugins", "--json")
    assert result.returncode == 0, result.stderr
    plugins = {p["name"]: p for p in json.loads(result.stdout)["plugins"]}
    example = plugins["example_codec"]
    assert example["distribution"]["name"] == "jpegai-eval-example-codec"
    assert example["hooks"] == ["register_codecs"]
    assert example["registered"]["codecs"] == ["downsample-png/pillow"]
    table = run_script(console_script, "plugins").stdout
    assert (
        "  example_codec (jpegai-eval-example-codec 0.1.0)\n      hooks: register_codecs\n" in table
    )
