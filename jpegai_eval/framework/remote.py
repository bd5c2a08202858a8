"""Files a study needs from outside: what they are, where they are looked for, where
they come from, and how they are verified.

A :class:`RemoteFile` is declared by the plugin that needs it (a codec's pretrained
weights, a task's dataset archive, ImageNet weights for the classifiers) and read by
``run`` (to fail early with the file, folder and URL) and by ``fetch`` (to download and
verify it ahead of time). Verification follows torch hub and CompressAI: a file name that
carries ``-<hex>.`` holds the first hex digits of the file's SHA-256; a full ``sha256``
is used where one is published or recorded.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

#: torch hub's rule: ``name-<sha256 prefix>.ext``.
HASH_PREFIX = re.compile(r"-([a-f0-9]{6,64})\.")


def torch_hub_checkpoints() -> Path:
    """Where torch hub (and so torchvision and CompressAI) keeps downloaded weights:
    ``$TORCH_HOME/hub/checkpoints``, by default ``~/.cache/torch/hub/checkpoints``."""
    torch_home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "torch"
    )
    return Path(torch_home) / "hub" / "checkpoints"


def sha256_of(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass(frozen=True)
class RemoteFile:
    """One file a study needs: ``folder / name``, downloadable from ``url``."""

    name: str
    folder: Path
    url: str
    what: str
    sha256: str | None = None  # the full digest where published or recorded
    size: int | None = None  # bytes, where known

    @property
    def path(self) -> Path:
        return Path(self.folder) / self.name

    @property
    def sha256_prefix(self) -> str | None:
        """The digest prefix the file name carries (torch hub's convention), if any."""
        match = HASH_PREFIX.search(self.name)
        return match.group(1) if match else None

    def verify(self, path: str | os.PathLike[str] | None = None) -> str | None:
        """``None`` if the file at ``path`` (default: where it belongs) matches what is
        known of it, else why not."""
        target = Path(path) if path is not None else self.path
        if not target.is_file():
            return "missing"
        if self.size is not None and target.stat().st_size != self.size:
            return f"{target.stat().st_size} bytes where {self.size} are expected"
        expected = self.sha256 or self.sha256_prefix
        if expected:
            actual = sha256_of(target)
            if not actual.startswith(expected):
                return f"SHA-256 {actual[:16]}... does not start with {expected}"
        return None
