"""What a classifier or a cell was computed from, so a rerun never reuses a stale one.

A classifier's *key* digests its configuration (task, domain, training data kind,
preset, seed, ImageNet initialisation by name and content, latent shape) and the content
of every training item: an original image by the digest of its bytes (the encode cache's
image key), a decoded image or latents by its cache entry (codec, backend, quality,
weights digest and the original's digest). A cell's key digests its classifier's key,
the content of its test items and, for a coded cell, the coded test entries its rate and
quality columns come from. The keys are stored with the results
(``classifiers/NAME/key.json``, ``"key"`` in ``cells/NAME.json``); one that differs from
what the run would compute now means the dataset, the weights or the configuration
changed, and the step is redone (:func:`stale_reason` says why, for the log).
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.run.records import Key
from jpegai_eval.framework.run.runfolder import item_path

if TYPE_CHECKING:
    from jpegai_eval.framework.api.types import ImageSource, Sample
    from jpegai_eval.framework.run.plan import Plan
    from jpegai_eval.framework.run.records import Encoded
    from jpegai_eval.framework.run.runfolder import CellId


def digest(value: Any) -> str:
    """A short digest of a JSON-able value."""
    text = json.dumps(value, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def init_file_id(path: str | None) -> str | None:
    """The content digest of the classifiers' initial checkpoint (None: from scratch)."""
    if path is None:
        return None
    stat = Path(path).stat()
    return _file_id(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _file_id(path: str, _size: int, _mtime_ns: int) -> str:
    from jpegai_eval.framework.run.cache import file_digest

    return file_digest(Path(path))


def original_id(sample: Sample, encoded: Encoded) -> str:
    """The original image's content: its cache image key (sample id + bytes digest)."""
    for entries in encoded.entries.values():
        entry = entries.get(sample.id)
        if entry is not None:
            return entry.key
    from jpegai_eval.framework.run.cache import file_digest, image_key

    return image_key(sample.id, file_digest(sample.path))


def content_id(data: ImageSource, sample: Sample, cell: CellId, encoded: Encoded) -> str:
    """What the item ``data`` (original, decoded, latents) of ``sample`` is made from."""
    if data == "original":
        return original_id(sample, encoded)
    path = item_path(data, sample, cell.codec, cell.quality, encoded)
    return f"{path.parent.parent.name}/{path.parent.name}/{path.name}"


def items_digest(data: ImageSource, samples: list[Sample], cell: CellId, encoded: Encoded) -> str:
    return digest([[s.id, s.label, content_id(data, s, cell, encoded)] for s in samples])


def classifier_key(
    plan: Plan, cell: CellId, train: list[Sample], encoded: Encoded, spec: Any
) -> Key:
    config = plan.config
    train_on = plan.trainers[cell.anchor.id].train_on
    settings = {
        "task": getattr(plan.task, "id", type(plan.task).__name__),
        "domain": cell.anchor.domain,
        "train_on": train_on,
        "preset": config.preset,
        "seed": config.seed,
        "imagenet_weights": config.imagenet_weights,
        # What the classifiers start from, by content: the label names the stand-in's
        # files with their digests, and the checkpoint's own bytes are digested too.
        "init": [plan.init_label, init_file_id(plan.init_weights)],
        "latent_spec": repr(spec),
    }
    return Key(items_digest(train_on, train, cell, encoded), len(train), config=digest(settings))


def cell_key(cell: CellId, classifier: Key, test: list[Sample], encoded: Encoded) -> Key:
    data = items_digest(cell.anchor.eval_on, test, cell, encoded)
    if cell.codec is not None:  # the bpp / PSNR columns come from the coded entries
        data = digest([data, items_digest("decoded", test, cell, encoded)])
    return Key(data, len(test), classifier=digest(classifier.to_json()))


def stale_reason(previous: Key | None, now: Key, data_kind: str) -> str | None:
    """Why a stored key no longer holds (None when it does)."""
    if previous == now:
        return None
    if previous is None:
        return "no record of what it was computed from (an older run folder)"
    if previous.data != now.data:
        count = f" ({previous.n} then, {now.n} now)" if previous.n != now.n else ""
        return f"its {data_kind} data changed{count}"
    if previous.classifier != now.classifier:
        return "its classifier was retrained"
    return "its configuration changed"
