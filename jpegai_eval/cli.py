"""The ``jpegai-eval`` command line. Commands stay thin: parse, call one function, print.

Subcommand groups that need torch or TensorFlow (``codec``, ``task``, ``data``, ...)
are imported only when they run, so ``jpegai-eval --help`` and ``jpegai-eval
plugins`` answer in well under a second.
"""

from __future__ import annotations

import importlib
import json
import sys

import click

from jpegai_eval import __version__
from jpegai_eval.framework.cli_errors import UserErrorGroup
from jpegai_eval.framework.errors import DuplicateIdError, UserError

#: name -> ("module:attribute", short help). Loaded on first use.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "codec": ("jpegai_eval.codecs.cli:codec_group", "Encode, decode, inspect and train codecs."),
    "data": ("jpegai_eval.tasks.cli:data_group", "Create datasets (the synthetic demo)."),
    "task": ("jpegai_eval.tasks.cli:task_group", "Inspect tasks and their classifiers."),
    "run": ("jpegai_eval.framework.run_cli:run_command", "Run the codec x quality x anchor study."),
    "report": ("jpegai_eval.reports.cli:report_command", "Rebuild reports from a run folder."),
}


class JpegaiEvalGroup(UserErrorGroup):
    """A click group with lazily imported subcommands and one-paragraph user errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        _add_plugin_commands()
        return sorted(set(super().list_commands(ctx)) | set(self._lazy()))

    def _lazy(self) -> dict[str, tuple[str, str]]:
        return {
            name: spec
            for name, spec in LAZY_COMMANDS.items()
            if importlib.util.find_spec(spec[0].split(":")[0]) is not None
        }

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        _add_plugin_commands()
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self._lazy():
            module_name, attribute = LAZY_COMMANDS[cmd_name][0].split(":")
            command = getattr(importlib.import_module(module_name), attribute)
            self.add_command(command, cmd_name)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help for lazy commands comes from LAZY_COMMANDS: listing them must not
        # import torch.
        rows = []
        for name in self.list_commands(ctx):
            if name in self.commands:
                rows.append((name, self.commands[name].get_short_help_str(60)))
            else:
                rows.append((name, LAZY_COMMANDS[name][1]))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=JpegaiEvalGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="jpegai-eval")
def cli() -> None:
    """Evaluate learned image compression for machines, JPEG-AI style.

    For every codec x quality x anchor: the rate (bpp of real bitstreams), the
    fidelity (PSNR, MS-SSIM, SSIM) and the task accuracy (Top-1/Top-5), in the pixel
    domain and directly on the compressed-domain latents.

    \b
    Quick start (the whole study on the embedded demo data; 6 min 0 s on a
    quiet 2-core CPU, docs/demo.md):
      jpegai-eval plugins
      jpegai-eval run --codec hyperprior-msssim --task minc --dataset demo \\
          --weights demo --preset quick --out runs/demo

    \b
    Presets (--preset):
      paper  the paper's recipe: Table 1's models from ImageNet weights,
             30 epochs (the default; hours per classifier on a CPU)
      quick  Table 1's models at a quarter width, 128-pixel images,
             8 epochs: the demo study above in about 6 minutes on a CPU
      smoke  1 epoch at 32-pixel crops, for tests on small data (12.6 s for
             207 images, docs/benchmarks.md); its accuracies mean nothing
    """
    check_settings()


def check_settings() -> None:
    """Check every ``JPEGAI_EVAL_*`` environment variable before any command works: a
    bad value stops here with one error naming it; an unknown name is warned about."""
    from jpegai_eval.framework.settings import check_environment

    for warning in check_environment():
        click.echo(f"Warning: {warning}", err=True)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def plugins(as_json: bool) -> None:
    """List codecs, tasks, anchors and report writers, with the plugin each came from."""
    from jpegai_eval.framework.listing import describe_plugins, format_plugins

    info = describe_plugins()
    click.echo(json.dumps(info, indent=2) if as_json else format_plugins(info))


_plugin_commands_added = False


def _add_plugin_commands() -> None:
    """Let every plugin add its commands (``register_commands``), once per process."""
    global _plugin_commands_added
    if _plugin_commands_added:
        return
    _plugin_commands_added = True
    from jpegai_eval.framework.plugins import get_plugins

    get_plugins().pm.hook.register_commands(cli=cli)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        from jpegai_eval.framework.download import enforce_offline, is_offline

        if is_offline():  # a SettingError for a value that is no flag
            enforce_offline()  # urllib refuses the network in this process
        _add_plugin_commands()
    except (UserError, DuplicateIdError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    cli.main(args=argv, prog_name="jpegai-eval")


if __name__ == "__main__":  # pragma: no cover
    main()
