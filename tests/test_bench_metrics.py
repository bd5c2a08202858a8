"""``jpegai-eval bench --only metrics``: each registered metric's cost per image and per
megapixel, and what the fast and jpegai sets cost against the codec's encode time. No
timing is asserted (these machines are noisy); the figures must be consistent."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.framework.api.metric_types import select_metrics
from jpegai_eval.framework.api.plugins import get_plugins


@pytest.mark.slow
def test_bench_prints_each_metrics_cost_per_megapixel(tmp_path):
    from jpegai_eval.codecs.testing import write_tiny_checkpoint

    weights = tmp_path / "tiny-q1.pt"
    write_tiny_checkpoint(weights, quality=1)
    out = tmp_path / "bench.json"
    args = ["bench", "--only", "metrics", "--images", "1", "--size", "64", "--reps", "1"]
    result = CliRunner().invoke(
        cli, [*args, "--weights", str(weights), "--json", str(out), "--quiet"]
    )
    assert result.exit_code == 0, result.output
    cost = json.loads(out.read_text())["qualities"]["1"]["metrics"]
    registry = list(get_plugins().metrics)
    assert set(cost["metrics"]) == {m.id for m in registry}
    assert "Metric cost, quality 1, 64x64 images" in result.output
    for metric in registry:
        info = cost["metrics"][metric.id]
        if metric.unavailable_reason:
            assert info == {"unavailable": metric.unavailable_reason}
            continue
        assert info["ms_per_mpx"] == pytest.approx(
            info["ms_per_image"] / 0.004096, rel=1e-3, abs=0.1
        )
        line = next(x for x in result.output.splitlines() if x.strip().startswith(metric.id + " "))
        assert f"{info['ms_per_mpx']:.0f}" in line
    jpegai = cost["sets"]["jpegai"]
    ids = [m.id for m in select_metrics("jpegai", registry) if not m.unavailable_reason]
    assert jpegai["metrics"] == ids
    total = sum(cost["metrics"][i]["ms_per_image"] for i in ids)
    assert jpegai["summed_ms_per_image"] == pytest.approx(total, abs=0.05)
    # The set is measured in one pass (the conversion shared), not summed.
    assert 0 < jpegai["ms_per_image"] != jpegai["summed_ms_per_image"]
    over = jpegai["ms_per_image"] / cost["encode_ms_per_image"]
    assert jpegai["over_encode"] == pytest.approx(over, rel=0.01)
    assert "the jpegai set:" in result.output
