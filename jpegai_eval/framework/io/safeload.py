"""Reading files a user or a run folder supplies, without running code from them.

A run folder can be copied from anywhere, so nothing in it is unpickled: PyTorch files
are read with ``torch.load(..., weights_only=True)`` (tensors and plain containers
only) and numpy files with ``allow_pickle=False``. A file that needs more is refused
with one paragraph naming it -- never with the advice to load it unsafely.
"""

from __future__ import annotations

import os
from typing import Any

from jpegai_eval.framework.errors import UserError


def load_plain(path: str | os.PathLike[str], map_location: Any = "cpu") -> Any:
    """The one place a PyTorch file is read: tensors and plain containers only
    (``weights_only=True``). Callers turn its errors into their own message."""
    import torch

    return torch.load(path, map_location=map_location, weights_only=True)


def torch_load(
    path: str | os.PathLike[str], what: str, remedy: str, map_location: Any = "cpu"
) -> Any:
    """``torch.load(path, weights_only=True)``; anything else is a :class:`UserError`
    naming ``what`` and the file, ending with ``remedy``."""
    import pickle

    try:
        return load_plain(path, map_location)
    except (
        pickle.UnpicklingError,
        RuntimeError,
        OSError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        KeyError,
        IndexError,
        UnicodeDecodeError,
        ImportError,
    ) as exc:
        raise UserError(
            f"Refusing to read {what} {str(path)!r}: it is not a plain PyTorch file of "
            f"tensors and plain values ({type(exc).__name__}), so it is damaged or holds "
            "objects that could run code when loaded, and jpegai-eval never loads those. "
            f"{remedy}"
        ) from None
