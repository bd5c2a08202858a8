"""The example third-party plugin works through the same contract as the built-ins."""

from __future__ import annotations

import numpy as np
import pytest

from jpegai_eval.framework.api.bitstream import bits_per_pixel, unpack
from jpegai_eval.framework.api.plugins import make_plugin_manager

pytest.importorskip("jpegai_eval_example_codec", reason="run `make venv`")


@pytest.fixture
def codec(monkeypatch):
    monkeypatch.setenv("JPEGAI_EVAL_LOAD_PLUGINS", "example_codec")
    return make_plugin_manager().codecs.resolve("downsample-png")


def test_rate_grows_with_quality_and_top_quality_is_lossless(codec):
    rng = np.random.default_rng(0)
    image = (rng.random((48, 40, 3)) * 255).astype(np.uint8)
    rates = []
    for quality in codec.qualities:
        data = codec.load(quality).encode(image)
        header, _ = unpack(data)
        assert (header.codec, header.quality, header.height, header.width) == (
            "downsample-png",
            quality,
            48,
            40,
        )
        decoded = codec.load(quality).decode(data)
        assert decoded.shape == image.shape and decoded.dtype == np.uint8
        rates.append(bits_per_pixel(data, 48, 40))
    assert rates == sorted(rates) and rates[0] < rates[-1]
    assert np.array_equal(codec.load(4).decode(codec.load(4).encode(image)), image)


def test_readme_codec_plugin_snippets_are_the_example_files():
    """Every code block of README's "Writing a codec plugin" is cut from a real, tested
    file of the example plugin (or, marked as a snippet, from another tested file), so
    the documentation cannot drift from working code."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    section = readme[readme.index("## Writing a codec plugin") :]
    section = section[: section.index("\n## ", 1)]
    # Blocks marked <!-- snippet: PATH --> are cut from PATH (the mean-scale walkthrough,
    # tests/latent_codecs.py) and checked by tests/test_readme_task_plugin.py.
    section = re.sub(r"<!-- snippet: \S+ -->\n```\w*\n.*?```", "", section, flags=re.S)
    example = root / "examples" / "jpegai-eval-example-codec"
    files = [p.read_text() for p in sorted(example.rglob("*.py"))]
    files.append((example / "pyproject.toml").read_text())
    blocks = re.findall(r"```(?:python|toml)\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 4
    for block in blocks:
        assert any(block in text for text in files), f"not in the example plugin:\n{block}"
