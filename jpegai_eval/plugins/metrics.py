"""Built-in plugin: the fidelity metrics (:mod:`jpegai_eval.framework.quality.builtin_metrics`)
and the ``metrics`` command (:mod:`jpegai_eval.cli.metrics`, a lazy command)."""

from __future__ import annotations

from collections.abc import Callable

from jpegai_eval import hookimpl
from jpegai_eval.cli.lazy import LazyCommand
from jpegai_eval.framework.api.hookspecs import CommandGroup
from jpegai_eval.framework.api.metric_types import Metric


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    from jpegai_eval.framework.quality.builtin_metrics import builtin_metrics

    for metric in builtin_metrics():
        register(metric)


@hookimpl
def register_commands(cli: CommandGroup) -> None:
    cli.add_command(
        LazyCommand(
            "metrics",
            "jpegai_eval.cli.metrics:metrics_command",
            "Print the fidelity metrics of DECODED against ORIGINAL.",
        ),
        "metrics",
    )
