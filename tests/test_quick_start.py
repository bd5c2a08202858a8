"""The quick start (issue 28, item 10): `jpegai-eval --help`'s example and the README's
first command run the CPU-sized `quick` preset and say how long it takes; every help
text names the same presets."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.cli.run import run_command

ROOT = Path(__file__).resolve().parents[1]
PRESETS = ("paper", "quick", "smoke")


def help_of(*args: str) -> str:
    result = CliRunner().invoke(cli, [*args, "--help"])
    assert result.exit_code == 0, result.output
    return result.output


def example_run(text: str) -> list[str]:
    """The first `jpegai-eval run ...` command in ``text`` (continuation lines joined)."""
    joined = re.sub(r"\\\n\s*", "", text)
    line = next(ln for ln in joined.splitlines() if re.search(r"jpegai-eval run ", ln))
    words = shlex.split(line[line.index("jpegai-eval run ") :])
    return words[2:]


def test_the_help_quick_start_runs_the_quick_preset_and_says_how_long():
    text = help_of()
    args = example_run(text)
    assert args[args.index("--preset") + 1] == "quick", args  # not the paper default
    # The example is a valid command line of `run` (every option exists).
    run_command.make_context("run", list(args))
    start = text[text.index("Quick start") :]
    assert re.search(r"\d+ min \d+ s on a\s+quiet 2-core CPU", start), start
    for preset in PRESETS:
        assert re.search(rf"^\s+{preset}\s", text, re.M), (preset, text)


def test_the_readme_first_command_runs_the_quick_preset_and_says_how_long():
    readme = (ROOT / "README.md").read_text()
    start = readme[readme.index("## Quick start") : readme.index("## Running the study")]
    args = example_run(start)
    assert args[args.index("--preset") + 1] == "quick", args
    run_command.make_context("run", list(args))
    assert "6 min 0 s" in start and "6 min 0 s" in (ROOT / "docs" / "demo.md").read_text()
    for preset in PRESETS:
        assert f"| `{preset}` |" in start, preset


def test_every_help_text_names_the_same_presets():
    for args in (("run",), ("task", "info")):
        text = " ".join(help_of(*args).split())
        preset_help = text[text.index("--preset") :]
        for preset in PRESETS:
            assert preset in preset_help[:600], (args, preset, preset_help[:600])
