"""The ``jpegai-eval`` command line: the click group and the console-script entry point.

The group has no command of its own: every command, built-in or third-party, is one a
plugin registers through the ``register_commands`` hook (the built-in ones in
:mod:`jpegai_eval.plugins.commands`, :mod:`~jpegai_eval.plugins.bench`,
:mod:`~jpegai_eval.plugins.fetch` and :mod:`~jpegai_eval.plugins.metrics`). Built-in
commands are :class:`~jpegai_eval.cli.lazy.LazyCommand`\\ s, imported only when they
run, so ``jpegai-eval --help`` and ``jpegai-eval plugins`` answer in well under a second.
"""

from __future__ import annotations

import sys

import click

from jpegai_eval.cli.errors import UserErrorGroup
from jpegai_eval.framework.errors import DuplicateIdError, UserError
from jpegai_eval.framework.version import __version__


class JpegaiEvalGroup(UserErrorGroup):
    """A click group whose commands are those the plugins register (added on first
    use, once per process), with one-paragraph user errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        add_plugin_commands()
        return super().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        add_plugin_commands()
        return super().get_command(ctx, cmd_name)


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


_plugin_commands_added = False


def add_plugin_commands() -> None:
    """Add every command the plugins register (``register_commands``), once per process."""
    global _plugin_commands_added
    if _plugin_commands_added:
        return
    from jpegai_eval.cli.registration import plugin_commands
    from jpegai_eval.framework.api.plugins import get_plugins

    for registered in plugin_commands(get_plugins()):
        cli.add_command(registered.command, registered.name)
    _plugin_commands_added = True  # not before: a plugin error is raised again next time


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    try:
        from jpegai_eval.framework.io.download import enforce_offline, is_offline

        if is_offline():  # a SettingError for a value that is no flag
            enforce_offline()  # urllib refuses the network in this process
        add_plugin_commands()
    except (UserError, DuplicateIdError) as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(getattr(exc, "exit_code", 1))
    cli.main(args=argv, prog_name="jpegai-eval")


if __name__ == "__main__":  # pragma: no cover
    main()
