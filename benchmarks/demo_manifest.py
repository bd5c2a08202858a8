"""Write ``manifest.json`` for demo weights:
``python demo_manifest.py [--codec ID] FOLDER Q [Q ...]`` (default ``hyperprior-msssim``).

Reads ``FOLDER/<codec id>-qQ.pt`` (written by ``jpegai-eval codec train``) and lists,
per quality, the file, N, M, steps, lambda, training seconds, the weights id (the digest
written into every bitstream), the SHA-256 and the size. Copy the files and the manifest
into ``jpegai_eval/codecs/weights/demo/`` (the hyperprior) or
``jpegai_eval/codecs/weights/demo-<codec id>/`` (another codec) to ship them.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from jpegai_eval.codecs.training import architecture_name
    from jpegai_eval.codecs.weights import read_checkpoint
    from jpegai_eval.framework.api.plugins import get_plugins

    codec_id = "hyperprior-msssim"
    if argv[:1] == ["--codec"]:
        codec_id, argv = argv[1], argv[2:]
    codec = get_plugins().codecs.resolve(codec_id)
    folder, qualities = Path(argv[0]), [int(q) for q in argv[1:]]
    entries = {}
    for q in qualities:
        path = folder / f"{codec.id}-q{q}.pt"
        weights = read_checkpoint(path, architecture=None)
        meta = weights.meta
        model = codec.load(q, str(path))
        entries[str(q)] = {
            "file": path.name,
            "N": int(model.net.N),
            "M": int(model.net.M),
            "steps": meta.get("steps"),
            "lmbda": meta.get("lmbda"),
            "train_seconds": meta.get("train_seconds"),
            "init_weights_id": meta.get("init_weights_id"),
            "weights_id": model.weights_id.hex(),
            "sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
            "bytes": path.stat().st_size,
        }
        if "transfer" in meta:
            entries[str(q)]["transfer_from_sha256"] = meta["transfer"]["file_sha256"]
    manifest = {
        "codec": codec.id,
        "architecture": architecture_name(codec),
        "qualities": entries,
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(json.dumps(manifest, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
