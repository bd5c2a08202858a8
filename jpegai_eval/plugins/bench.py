"""Built-in plugin: the ``bench`` command (:mod:`jpegai_eval.bench`).

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
            "bench",
            "jpegai_eval.bench.cli:bench_command",
            "Measure inference and encode cost, compressed vs pixel domain.",
        ),
        "bench",
    )
