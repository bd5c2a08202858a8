"""README's "Writing a task plugin" and "Writing a codec plugin" show real, tested
code: every fenced block marked ``<!-- snippet: PATH -->`` must be a verbatim region of
the file at PATH."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SNIPPET = re.compile(r"<!-- snippet: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.DOTALL)


def section(text: str, title: str) -> str:
    start = text.index(f"## {title}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def snippets(text: str) -> list[tuple[str, str]]:
    return [(m["path"], m["code"]) for m in SNIPPET.finditer(text)]


def test_the_snippet_extractor_sees_what_it_should():
    text = "## T\n<!-- snippet: a.py -->\n```python\nx = 1\ny = 2\n```\n## U\n"
    assert snippets(section(text, "T")) == [("a.py", "x = 1\ny = 2")]


TASK_SNIPPETS = snippets(section((ROOT / "README.md").read_text(), "Writing a task plugin"))


def test_the_task_section_has_its_snippets():
    assert [p for p, _ in TASK_SNIPPETS] == [
        "jpegai_eval/tasks/imagefolder.py",
        "jpegai_eval/tasks/imagefolder.py",
        "jpegai_eval/plugins/imagefolder_task.py",
    ]


@pytest.mark.parametrize(("path", "code"), TASK_SNIPPETS, ids=[p for p, _ in TASK_SNIPPETS])
def test_readme_snippet_is_the_files_text(path, code):
    source = (ROOT / path).read_text()
    assert code.strip(), f"empty snippet for {path}"
    assert code in source, (
        f"README's snippet of {path} differs from the file; copy the file's text into "
        "README.md again (or fix the file):\n" + code
    )


CODEC_SNIPPETS = snippets(section((ROOT / "README.md").read_text(), "Writing a codec plugin"))


def test_the_codec_section_walks_through_the_tested_mean_scale_codec():
    assert [p for p, _ in CODEC_SNIPPETS] == ["tests/latent_codecs.py"] * 2
    assert "class MeanScaleModel(CodecModel):" in CODEC_SNIPPETS[0][1]
    assert 'LatentTensor("mu_hat"' in CODEC_SNIPPETS[1][1]


@pytest.mark.parametrize(("path", "code"), CODEC_SNIPPETS, ids=["model", "codec"])
def test_readme_codec_snippet_is_the_files_text(path, code):
    assert code in (ROOT / path).read_text(), (
        f"README's snippet of {path} differs from the file; copy the file's text into "
        "README.md again (or fix the file):\n" + code
    )
