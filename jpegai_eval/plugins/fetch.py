"""Built-in plugin: the ``fetch`` command (:mod:`jpegai_eval.framework.fetch_cli`).

Added through ``register_commands`` like any third-party command; the command module
imports no torch, so ``jpegai-eval --help`` stays fast.
"""

import click

from jpegai_eval import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    from jpegai_eval.framework.fetch_cli import fetch_command

    cli.add_command(fetch_command, "fetch")
