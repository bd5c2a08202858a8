"""Progress off a terminal is whole lines, a few of them, not carriage-return redraws."""

import io

from jpegai_eval.framework.io.progress import LineProgress, progress


class Tty(io.StringIO):
    def isatty(self):
        return True


def test_off_a_terminal_progress_is_a_few_plain_lines(monkeypatch):
    monkeypatch.setenv("JPEGAI_EVAL_PROGRESS_SECONDS", "3600")
    out = io.StringIO()
    bar = progress(range(500), desc="encode", unit="img", file=out)
    assert isinstance(bar, LineProgress)
    items = []
    for i in bar:
        bar.set_postfix(loss=f"{i:.1f}")
        items.append(i)
    assert items == list(range(500))
    lines = out.getvalue().splitlines()
    assert "\r" not in out.getvalue()
    assert len(lines) == 2  # the start and the end: nothing in between within the interval
    assert lines[0].startswith("encode: 0/500 img (0%)")
    assert lines[-1].startswith("encode: 500/500 img (100%)") and "loss=499.0" in lines[-1]


def test_lines_every_interval(monkeypatch):
    out = io.StringIO()
    bar = LineProgress(total=3, desc="cells", unit="cell", file=out, interval=0)
    for _ in range(3):
        bar.update()
    bar.close()
    bar.close()  # idempotent
    # the start line and one per update; close adds none, the last already said 3/3
    # (issue 28, item 14: the 100% line was printed twice)
    assert len(out.getvalue().splitlines()) == 1 + 3
    assert out.getvalue().count("3/3") == 1


def test_on_a_terminal_progress_is_tqdm():
    from tqdm import tqdm

    bar = progress(total=2, desc="x", file=Tty())
    assert isinstance(bar, tqdm)
    bar.close()
    assert isinstance(progress(range(3), disable=True), tqdm)
