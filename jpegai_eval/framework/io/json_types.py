"""The value types of the flat JSON and CSV records a run reads and writes.

A results.csv or per_image.csv cell, a cache entry's metric and a run.json setting are
each one JSON scalar; the records that hold them (rows, ``meta.json``) are typed as
mappings of these, the nested ones as TypedDicts next to their writer.
"""

from __future__ import annotations

#: One JSON scalar: a CSV cell, a metric's value, a setting.
Scalar = str | int | float | bool | None

#: The types :data:`Scalar` names, for ``isinstance`` checks at the file edges.
SCALAR_TYPES = (str, int, float, bool, type(None))


def scalar_or_none(value: object) -> Scalar:
    """``value`` when it is a JSON scalar, else None (a nested object or list)."""
    return value if isinstance(value, SCALAR_TYPES) else None
