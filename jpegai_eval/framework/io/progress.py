"""Progress that reads well on a terminal and off one.

On a terminal, :func:`progress` is a tqdm bar. Off one (CI, ``nohup``, a redirected
``run.log``), carriage-return redraws would turn into hundreds of KB of noise, so it is a
:class:`LineProgress` instead: one plain line at the start, then at most one every
``JPEGAI_EVAL_PROGRESS_SECONDS`` seconds (default 10), and one when it ends, each with
the count, the rate, the time left and the latest postfix (loss, accuracy, cell name).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterable, Iterator
from typing import IO, Any

INTERVAL_ENV = "JPEGAI_EVAL_PROGRESS_SECONDS"
DEFAULT_INTERVAL = 10.0


def _interval() -> float:
    from jpegai_eval.framework.settings import value

    seconds = value(INTERVAL_ENV)  # a SettingError for a value that is not seconds
    return DEFAULT_INTERVAL if seconds is None else float(seconds)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


class LineProgress:
    """The part of tqdm's interface the project uses, printing whole lines."""

    def __init__(
        self,
        iterable: Iterable[Any] | None = None,
        *,
        total: int | None = None,
        desc: str = "",
        unit: str = "it",
        initial: int = 0,
        file: IO[str] | None = None,
        interval: float | None = None,
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)  # type: ignore[arg-type]
        self.total, self.desc, self.unit = total, desc, unit
        self.n = self._start_n = initial
        self.file = file if file is not None else sys.stderr
        self.interval = _interval() if interval is None else interval
        self.postfix = ""
        self._start = self._last = time.monotonic()
        self._closed = False
        self._emit()

    def line(self) -> str:
        elapsed = time.monotonic() - self._start
        done = self.n - self._start_n
        rate = done / elapsed if elapsed > 0 and done else None
        parts = [f"{self.desc}: " if self.desc else ""]
        if self.total:
            parts.append(f"{self.n}/{self.total} {self.unit} ({100 * self.n / self.total:.0f}%)")
        else:
            parts.append(f"{self.n} {self.unit}")
        parts.append(f" elapsed {_clock(elapsed)}")
        if rate:
            parts.append(f", {rate:.3g} {self.unit}/s")
            if self.total and self.n < self.total:
                parts.append(f", {_clock((self.total - self.n) / rate)} left")
        if self.postfix:
            parts.append(f" [{self.postfix}]")
        return "".join(parts)

    def _emit(self) -> None:
        print(self.line(), file=self.file, flush=True)
        self._last = time.monotonic()
        self._emitted_n = self.n

    def update(self, n: int = 1) -> None:
        self.n += n
        if time.monotonic() - self._last >= self.interval:
            self._emit()

    def set_postfix(self, **values: Any) -> None:
        self.postfix = ", ".join(f"{k}={v}" for k, v in values.items())

    def set_postfix_str(self, text: str) -> None:
        self.postfix = text

    def __iter__(self) -> Iterator[Any]:
        assert self.iterable is not None
        try:
            for item in self.iterable:
                yield item
                self.update()
        finally:
            self.close()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            if self._emitted_n != self.n:  # the last line already says where it ended
                self._emit()

    def __enter__(self) -> LineProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def progress(
    iterable: Iterable[Any] | None = None,
    *,
    total: int | None = None,
    desc: str = "",
    unit: str = "it",
    initial: int = 0,
    disable: bool = False,
    leave: bool = True,
    file: IO[str] | None = None,
) -> Any:
    """A tqdm bar on a terminal, a :class:`LineProgress` off one; silent if ``disable``."""
    stream = file if file is not None else sys.stderr
    from tqdm import tqdm

    if disable:
        return tqdm(iterable, total=total, disable=True)
    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        return tqdm(
            iterable,
            total=total,
            desc=desc,
            unit=unit,
            initial=initial,
            leave=leave,
            file=stream,
            dynamic_ncols=True,
        )
    return LineProgress(iterable, total=total, desc=desc, unit=unit, initial=initial, file=stream)
