"""How user errors reach the terminal from any click group of jpegai-eval."""

from __future__ import annotations

from typing import Any

import click

from jpegai_eval.framework.errors import DuplicateIdError, UserError


class UserErrorGroup(click.Group):
    """A click group that prints a :class:`UserError` as one ``Error: ...`` paragraph
    with the error's exit code, never a traceback. Subcommand groups use it too, so
    they behave the same when invoked on their own (as tests do)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as exc:
            error = click.ClickException(exc.message)
            error.exit_code = exc.exit_code  # type: ignore[misc]
            raise error from None
        except DuplicateIdError as exc:
            raise click.ClickException(str(exc)) from None
