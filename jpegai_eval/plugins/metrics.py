"""Built-in plugin: the fidelity metrics (:mod:`jpegai_eval.framework.builtin_metrics`)
and the ``metrics`` command (:mod:`jpegai_eval.framework.metrics_cli`)."""

from __future__ import annotations

from collections.abc import Callable

import click

from jpegai_eval import hookimpl
from jpegai_eval.framework.metric_types import Metric


@hookimpl
def register_metrics(register: Callable[[Metric], None]) -> None:
    from jpegai_eval.framework.builtin_metrics import builtin_metrics

    for metric in builtin_metrics():
        register(metric)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from jpegai_eval.framework.metrics_cli import metrics_command

    cli.add_command(metrics_command, "metrics")
