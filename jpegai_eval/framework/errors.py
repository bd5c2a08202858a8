"""Errors a user can cause, and how they reach the terminal.

Every :class:`UserError` carries a message that names what was wrong (with the
offending value) and what to do instead. The CLI prints it as one paragraph and
exits with :attr:`UserError.exit_code` -- never a traceback.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem the user can fix: bad input, missing data or weights, unknown names."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ImageSizeError(UserError):
    """An image outside the sizes a codec can code: a side longer than its format holds,
    more pixels than its cap, or smaller than its minimum (:meth:`Codec.size_problem`)."""


class UsageError(UserError):
    """A command-line value that names nothing known (unknown codec, quality, ...)."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A lookup for an id that no plugin registered."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        listing = ", ".join(known) if known else "(none registered)"
        super().__init__(f"Unknown {kind}: {name!r}. Known {kind}s: {listing}.")
        self.kind = kind
        self.name = name
        self.known = known


class DuplicateIdError(Exception):
    """Two plugins registered the same id. A programming error, not a user one."""


class BitstreamError(UserError):
    """A ``.jai`` file that is truncated, corrupt, foreign or for other weights."""


class WeightsError(UserError):
    """Weights that cannot be found or do not fit the codec."""


class DatasetError(UserError):
    """A dataset root that is missing or malformed."""


class PluginError(UserError):
    """An installed plugin that does not fit the plugin API (e.g. an unknown hook name)."""


def describe_load_error(exc: BaseException) -> str:
    """A short, safe reason why ``torch.load`` (or ``np.load``) failed, for a UserError.

    torch's own message for a file that the safe loader refuses advises turning the
    safety off -- which would run whatever code the file carries. That advice is never
    passed on: such a file is described as holding Python objects other than tensors,
    and other messages keep only their first line, minus any sentence that mentions
    the loader's flag.
    """
    text = str(exc).strip()
    if "Weights only load failed" in text or "weights_only" in text:
        return (
            "it holds Python objects other than tensors, which are refused because "
            "loading them could run code"
        )
    first = text.splitlines()[0].strip() if text else ""
    if not first:
        return f"{type(exc).__name__}: the file is truncated or not in the expected format"
    if len(first) > 200:
        first = first[:200] + "..."
    return f"{type(exc).__name__}: {first}"
