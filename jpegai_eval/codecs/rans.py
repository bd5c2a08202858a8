"""Entropy decoding of CompressAI's rANS strings into arrays.

CompressAI's ``RansDecoder.decode_with_indexes`` takes Python lists and returns one: for
the 110,592 symbols of ŷ at 384x384, converting them costs about three times the
decoding itself. :func:`decode` takes and returns numpy arrays and runs the compiled
decoder ``jpegai_eval.codecs._rans`` (built with the package where a C compiler is
found) -- the same symbols as CompressAI's decoder, and an error instead of reading past
the end of a malformed string. Without the compiled module it runs CompressAI's decoder,
with the same results; :data:`DECODER` says which one is in use.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

try:
    from jpegai_eval.codecs import _rans as _compiled
except ImportError:  # built without a C compiler: CompressAI's decoder, same values
    _compiled = None

#: The decoder :func:`decode` runs, as recorded with bench results.
DECODER = "compiled (jpegai_eval.codecs._rans)" if _compiled else "CompressAI (Python lists)"


@dataclass(frozen=True)
class Tables:
    """An entropy model's CDF tables as the decoders take them: ``cdfs`` (tables, width),
    ``lengths`` and ``offsets`` (one per table), all int32."""

    cdfs: np.ndarray
    lengths: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, coder: Any) -> Tables:
        """The tables of a CompressAI entropy model (``EntropyBottleneck``,
        ``GaussianConditional``) after its ``update()``."""

        def int32(t: Any) -> np.ndarray:
            return np.ascontiguousarray(t.detach().cpu().numpy(), dtype=np.int32)

        return cls(
            int32(coder._quantized_cdf),
            int32(coder._cdf_length.reshape(-1)),
            int32(coder._offset.reshape(-1)),
        )

    @cached_property
    def lists(self) -> tuple[list[Any], list[int], list[int]]:
        """The tables as CompressAI's decoder takes them (converted once)."""
        return self.cdfs.tolist(), self.lengths.tolist(), self.offsets.tolist()


def decode(string: bytes, indexes: np.ndarray, tables: Tables, coder: Any) -> np.ndarray:
    """The symbols (int32, the shape of ``indexes``) that CompressAI's entropy coder
    ``coder`` (an entropy model's ``entropy_coder``) decodes from ``string``, symbol i
    with CDF table ``indexes.flat[i]``. Runs the compiled decoder for rANS (``"ans"``,
    CompressAI's default), the coder itself otherwise. Raises ``ValueError`` when the
    compiled decoder finds that ``string`` is not a well-formed stream of exactly these
    symbols (CompressAI's own decoder does not check)."""
    indexes = np.ascontiguousarray(indexes, dtype=np.int32)
    if _compiled is not None and getattr(coder, "name", None) == "ans":
        out = np.empty(indexes.shape, dtype=np.int32)
        _compiled.decode(string, indexes, tables.cdfs, tables.lengths, tables.offsets, out)
        return out
    values = coder.decode_with_indexes(string, indexes.ravel().tolist(), *tables.lists)
    return np.fromiter(values, dtype=np.int32, count=len(values)).reshape(indexes.shape)
