"""Built-in plugin: the ``bench`` command (:mod:`jpegai_eval.bench`).

Added through ``register_commands`` like any third-party command; the command module
imports no torch, so ``jpegai-eval --help`` stays fast.
"""

import click

from jpegai_eval import hookimpl


@hookimpl
def register_commands(cli: click.Group) -> None:
    from jpegai_eval.bench.cli import bench_command

    cli.add_command(bench_command, "bench")
