"""Built-in plugin: the ``fetch`` command (:mod:`jpegai_eval.cli.fetch`).

Added through ``register_commands`` like any third-party command, as a
:class:`~jpegai_eval.cli.lazy.LazyCommand`: ``jpegai-eval --help`` imports no part of it.
"""

from jpegai_eval import hookimpl
from jpegai_eval.cli.lazy import LazyCommand
from jpegai_eval.framework.api.hookspecs import CommandGroup


@hookimpl
def register_commands(cli: CommandGroup) -> None:
    cli.add_command(
        LazyCommand(
            "fetch",
            "jpegai_eval.cli.fetch:fetch_command",
            "Download what a study needs, ahead of time.",
        ),
        "fetch",
    )
