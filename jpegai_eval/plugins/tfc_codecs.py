"""The TensorFlow-Compression backend (``tfc``) of ``hyperprior-msssim`` and ``hyperprior-mse``.

Registered whether or not TensorFlow is installed: without it the codecs are listed
with the reason and how to install it. Availability is checked with ``find_spec``, so
listing plugins never imports TensorFlow; an import error inside jpegai-eval's own TFC
modules is not caught.
"""

from __future__ import annotations

import importlib.util

from jpegai_eval import hookimpl
from jpegai_eval.codecs.tfc_hyperprior import INSTALL_COMMAND, METRICS, TfcHyperprior

REQUIRED = {"tensorflow": "TensorFlow", "tensorflow_compression": "tensorflow-compression"}


def unavailable_reason() -> str | None:
    """Why the ``tfc`` backend cannot run here, or None when it can."""
    missing = [
        label for module, label in REQUIRED.items() if importlib.util.find_spec(module) is None
    ]
    if not missing:
        return None
    verb, pronoun = ("is", "it") if len(missing) == 1 else ("are", "them")
    return (
        f"{' and '.join(missing)} {verb} not installed; install {pronoun} with `{INSTALL_COMMAND}`."
    )


@hookimpl
def register_codecs(register):
    reason = unavailable_reason()
    for metric in METRICS:
        register(TfcHyperprior(metric, unavailable_reason=reason))
