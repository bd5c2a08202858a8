"""How user errors reach the terminal from any click group of jpegai-eval."""

from __future__ import annotations

import errno
from typing import Any

import click

from jpegai_eval.framework.errors import DuplicateIdError, UserError

#: errno values of OSErrors the user (or their machine's set-up) causes.
USER_ERRNOS = {
    errno.EACCES,
    errno.EPERM,
    errno.EROFS,
    errno.ENOSPC,
    errno.EDQUOT,
    errno.ENAMETOOLONG,
    errno.ENOTDIR,
    errno.EISDIR,
}


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
        except OSError as exc:
            # A safety net: a file-system refusal the command did not turn into a
            # UserError itself is still the user's to fix (permissions, a full or
            # read-only disk, an over-long name) -- one paragraph, not a traceback.
            if exc.errno not in USER_ERRNOS or not exc.filename:
                raise
            raise click.ClickException(
                f"{exc.strerror or exc}: {str(exc.filename)!r}. Check that the path exists "
                "and that you may read and write it (and that its disk has room)."
            ) from None
