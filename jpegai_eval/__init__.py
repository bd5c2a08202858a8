"""jpegai-eval: evaluate learned image compression for machines, JPEG-AI style.

This module is the public API for plugin authors; everything a plugin needs is here::

    from jpegai_eval import Codec, CodecModel, hookimpl

    @hookimpl
    def register_codecs(register):
        register(MyCodec())

and ``jpegai_eval.testing`` checks a plugin against the contracts
(:func:`jpegai_eval.testing.check_codec`, :func:`jpegai_eval.testing.check_task`).
Importing this module imports no torch, TensorFlow or numpy: ``testing`` loads on
first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from jpegai_eval.framework.api.bitstream import Header, pack_strings, unpack_strings
from jpegai_eval.framework.api.hookspecs import hookimpl
from jpegai_eval.framework.api.types import (
    Anchor,
    Codec,
    CodecModel,
    Decoded,
    Domain,
    ImageSource,
    LatentSpec,
    LatentTensor,
    ReportOptions,
    ReportWriter,
    Sample,
    Task,
    TaskOption,
)
from jpegai_eval.framework.errors import (
    BitstreamError,
    DatasetError,
    DuplicateIdError,
    PluginError,
    UnknownNameError,
    UsageError,
    UserError,
    WeightsError,
)
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.framework.version import __version__

__all__ = [
    "__version__",
    "hookimpl",
    "Codec",
    "CodecModel",
    "Decoded",
    "LatentSpec",
    "LatentTensor",
    "Header",
    "pack_strings",
    "unpack_strings",
    "Task",
    "TaskOption",
    "Sample",
    "Anchor",
    "Domain",
    "ImageSource",
    "ReportWriter",
    "ReportOptions",
    "UserError",
    "UsageError",
    "UnknownNameError",
    "BitstreamError",
    "WeightsError",
    "DatasetError",
    "PluginError",
    "DuplicateIdError",
    "RemoteFile",
    "testing",
]


def __getattr__(name: str) -> Any:
    """``jpegai_eval.testing`` on first use (it needs numpy; the CLI's start does not)."""
    if name == "testing":
        return importlib.import_module("jpegai_eval.testing")
    raise AttributeError(f"module 'jpegai_eval' has no attribute {name!r}")
