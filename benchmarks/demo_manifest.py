"""Write ``manifest.json`` for demo weights: ``python demo_manifest.py FOLDER Q [Q ...]``.

Reads ``FOLDER/hyperprior-msssim-qQ.pt`` (written by ``jpegai-eval codec train``) and
lists, per quality, the file, N, M, steps, lambda, training seconds, the weights id (the
digest written into every bitstream), the SHA-256 and the size. Copy the files and the
manifest into ``jpegai_eval/codecs/weights/demo/`` to ship them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from jpegai_eval.codecs.weights import build_model, read_checkpoint, weights_id

    folder, qualities = Path(argv[0]), [int(q) for q in argv[1:]]
    entries = {}
    for q in qualities:
        path = folder / f"hyperprior-msssim-q{q}.pt"
        weights = read_checkpoint(path)
        meta = weights.meta
        entries[str(q)] = {
            "file": path.name,
            "N": weights.N,
            "M": weights.M,
            "steps": meta.get("steps"),
            "lmbda": meta.get("lmbda"),
            "train_seconds": meta.get("train_seconds"),
            "init_weights_id": meta.get("init_weights_id"),
            "weights_id": weights_id(build_model(weights)).hex(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
        }
    manifest = {
        "codec": "hyperprior-msssim",
        "architecture": "bmshj2018-hyperprior",
        "qualities": entries,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
