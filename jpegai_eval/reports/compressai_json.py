"""Rate and fidelity in CompressAI's results format, for the field's own plots.

One JSON file per codec (id and backend) in ``compressai/``, laid out like the files in
CompressAI's ``results/image/<dataset>/`` (which its ``compressai.utils.plot`` and
``compressai.utils.eval_model`` read and write)::

    {"name": "hyperprior-msssim/compressai",
     "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...]}}

Each list has one value per quality, lowest quality first: the mean over the run's test
images, as ``results.csv`` gives it (read and checked by
:func:`jpegai_eval.reports.tables.read_results`, like every report). MS-SSIM is linear
(the plotting script converts it to dB), times are in seconds per image. So::

    python -m compressai.utils.plot -f RUN/compressai/*.json -m ms-ssim

draws the run's codecs next to CompressAI's published curves. Only ``results.csv`` and
``run.json`` of the run folder are read; MS-SSIM of images too small for its five
scales is NaN there and here (Python's ``json`` reads it).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from jpegai_eval.framework.api.types import ReportWriter
from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.image_io import atomic_output
from jpegai_eval.reports.tables import read_results

FOLDER = "compressai"
#: CompressAI's key -> (results.csv column, scale)
FIELDS = {
    "bpp": ("bpp", 1.0),
    "psnr-rgb": ("psnr", 1.0),
    "ms-ssim-rgb": ("ms_ssim", 1.0),
    "encoding_time": ("encode_ms_per_image", 1e-3),
    "decoding_time": ("decode_ms_per_image", 1e-3),
}
REQUIRED = ("bpp", "psnr-rgb", "ms-ssim-rgb")


def _float(value: Any) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def codec_results(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(codec, backend): {"qualities": [...], "n_test": [...], <CompressAI key>: [...]}}``
    from ``results.csv`` (read and checked as every report reads it), qualities ascending."""
    results = read_results(run_dir)
    missing = [c for c in ("bpp", "psnr", "ms_ssim") if c not in results]
    if missing:
        raise UserError(
            f"{str(Path(run_dir) / 'results.csv')!r} lacks the column(s) "
            f"{', '.join(missing)}: it was not written by `jpegai-eval run`. Give the "
            "output folder of a run."
        )
    # Anchor 3 (originals) has no codec and no rate; the anchors of one codec x quality
    # share its rate and fidelity: the first row of each cell stands for it.
    coded = results[results["quality"].notna() & results["bpp"].notna()]
    out: dict[tuple[str, str], dict[str, Any]] = {}
    for (codec, backend), rows in coded.groupby(["codec", "backend"], sort=False):
        cells = rows.sort_values("quality", kind="stable").drop_duplicates("quality")
        entry: dict[str, Any] = {
            "qualities": [int(q) for q in cells["quality"]],
            "n_test": sorted({int(n) for n in cells.get("n_test", []) if not math.isnan(n)}),
        }
        for name, (column, scale) in FIELDS.items():
            values = [
                _float(v) * scale
                for v in (cells[column] if column in cells else [math.nan] * len(cells))
            ]
            if name in REQUIRED or not all(math.isnan(v) for v in values):
                entry[name] = values
        out[(str(codec), str(backend))] = entry
    return out


def _run_config(run_dir: Path) -> dict[str, Any]:
    try:
        info = json.loads((Path(run_dir) / "run.json").read_text())
    except (OSError, ValueError):
        return {}
    config = info.get("config") if isinstance(info, dict) else None
    return config if isinstance(config, dict) else {}


class CompressAIJsonWriter(ReportWriter):
    id = "compressai-json"
    format = "compressai-json"
    description = (
        "Rate and fidelity per codec in CompressAI's results/image JSON layout "
        "(bpp, psnr-rgb, ms-ssim-rgb), for python -m compressai.utils.plot."
    )
    outputs = (f"{FOLDER}/<codec>_<backend>.json",)

    def write(self, run_dir: Path, out_dir: Path) -> list[Path]:
        results = codec_results(run_dir)
        config = _run_config(run_dir)
        task = config.get("task") or "the task"
        folder = Path(out_dir) / FOLDER
        folder.mkdir(parents=True, exist_ok=True)
        paths = []
        for (codec, backend), entry in results.items():
            images = "/".join(str(n) for n in entry["n_test"]) or "the"
            description = (
                f"jpegai-eval run {Path(run_dir).resolve().name}: {codec} ({backend}) at "
                f"qualities {', '.join(str(q) for q in entry['qualities'])}; mean over "
                f"{images} test images of {task}."
            )
            document = {
                "name": f"{codec}/{backend}" if backend else codec,
                "description": description,
                "results": {k: entry[k] for k in FIELDS if k in entry},
            }
            stem = f"{codec}_{backend}" if backend else codec
            path = folder / f"{stem}.json"
            with atomic_output(path) as tmp:
                Path(tmp).write_text(json.dumps(document, indent=2) + "\n")
            paths.append(path)
        return paths
