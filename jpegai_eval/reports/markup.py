"""HTML markup shared by the report's sections: escaping and number formatting
(:func:`e`, :func:`pct`, :func:`num`) and a DataFrame as an escaped table
(:func:`html_table`). Every string that comes from data goes through :func:`e`."""

from __future__ import annotations

import math
from collections.abc import Callable
from html import escape
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def e(value: Any) -> str:
    """HTML-escape a value from data (quotes included)."""
    return escape("" if value is None else str(value), quote=True)


def pct(value: Any, digits: int = 2) -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–"
    return "–" if math.isnan(number) else f"{100 * number:.{digits}f}"


def num(value: Any, fmt: str = "{:.2f}") -> str:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return "–" if value in (None, "") else e(value)
    return "–" if math.isnan(number) else e(fmt.format(number))


def html_table(
    frame: pd.DataFrame,
    caption: str = "",
    fmt: Callable[[Any], str] = pct,
    table_id: str = "",
) -> str:
    """A DataFrame as an escaped HTML table; the index is the first column."""
    head = "".join(f"<th>{e(c)}</th>" for c in [frame.index.name or "", *frame.columns])
    body = []
    for index, row in frame.iterrows():
        cells = "".join(f"<td>{fmt(v)}</td>" for v in row)
        body.append(f"<tr><th>{e(index)}</th>{cells}</tr>")
    ident = f' id="{e(table_id)}"' if table_id else ""
    cap = f"<caption>{e(caption)}</caption>" if caption else ""
    return (
        f'<div class="scroll"><table{ident}>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )
