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
from collections.abc import Callable
from dataclasses import dataclass, field
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


def mirrored(url: str, env: str, default_prefix: str) -> str:
    """``url`` with ``default_prefix`` replaced by the value of ``$env`` when it is set:
    a mirror (``https://...``, ``file:///shared/mirror``) or a test server."""
    from jpegai_eval.framework.settings import value as setting_value

    value = setting_value(env)
    if value and url.startswith(default_prefix):
        return str(value).rstrip("/") + url[len(default_prefix.rstrip("/")) :]
    return url


@dataclass(frozen=True)
class RemoteFile:
    """One file a study needs: ``folder / name``, downloadable from ``url``."""

    name: str
    folder: Path
    url: str
    what: str
    sha256: str | None = None  # the full digest where published or recorded
    size: int | None = None  # bytes, where known
    #: A SHA-1 where only that is published or recorded (MINC-2500's archive).
    sha1: str | None = None
    #: The environment variable that replaces the URL's prefix (a mirror), if any.
    url_env: str | None = None
    #: For an archive: the folder it is unpacked into (its one top-level folder, if it
    #: has one, stripped), after which the archive itself is no longer needed.
    unpack_into: Path | None = None
    #: For an archive: ``None`` when its unpacked content is in place and valid, else
    #: why not (the owner's own check, e.g. the task's dataset validation).
    installed: Callable[[], str | None] | None = field(default=None, compare=False)

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
        if self.sha1:
            digest = hashlib.sha1(usedforsecurity=False)
            with open(target, "rb") as fh:
                while block := fh.read(1 << 20):
                    digest.update(block)
            if digest.hexdigest() != self.sha1:
                return f"SHA-1 {digest.hexdigest()} is not the recorded {self.sha1}"
        return None

    @property
    def checksum(self) -> str:
        """How the file is verified, for listings."""
        if self.sha256:
            return f"SHA-256 {self.sha256[:16]}..."
        if self.sha256_prefix:
            return f"SHA-256 prefix {self.sha256_prefix} (in the name)"
        if self.sha1:
            return f"SHA-1 {self.sha1}"
        return "size only" if self.size is not None else "none published"
