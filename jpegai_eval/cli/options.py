"""Options that several commands share, defined once: ``--offline`` (``run``,
``fetch``, ``bench``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from jpegai_eval.framework.io.download import OFFLINE_ENV, enforce_offline, set_offline

F = TypeVar("F", bound=Callable[..., Any])


def _offline_flag(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        set_offline()
    else:
        enforce_offline()  # JPEGAI_EVAL_OFFLINE from the environment


def offline_option(command: F) -> F:
    """The ``--offline`` flag of ``run``, ``fetch`` and ``bench`` (a click decorator)."""
    return click.option(
        "--offline",
        is_flag=True,
        expose_value=False,
        is_eager=True,
        callback=_offline_flag,
        help=f"Never use the network (as {OFFLINE_ENV}=1 does): a missing file is an "
        "error naming the file, its folder and its URL.",
    )(command)
