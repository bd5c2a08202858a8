"""An exclusive lock on a run folder, so two runs never write into one ``--out`` at once.

The lock is ``<run folder>/.lock``, held with ``fcntl.flock`` for as long as the run
lasts, and holding the holder's pid, host and start time as JSON. A second run into the
same folder is refused with a :class:`RunLockedError` naming the holder. The kernel
drops a flock when its process dies (even after ``kill -9``), so a lock file left by a
dead process is simply taken over (and the takeover is reported). A forked child (an
encode worker, a DataLoader worker) closes its copy of the lock's descriptor at once:
a flock lives as long as any descriptor of it is open, and otherwise a run killed with
``kill -9`` would stay locked until its orphaned workers noticed and exited, refusing
an immediate rerun in the name of a dead process.

Use it as a context manager::

    with RunLock(out_dir) as lock:   # creates out_dir if needed
        ...                          # lock.stale_holder: who left a stale lock, if anyone

or call :meth:`RunLock.acquire` / :meth:`RunLock.release` (for instance on rank 0 of a
distributed job only). On leaving, the lock file is removed, and a folder the lock
created is removed again when nothing else was written into it. On systems without
``fcntl`` the lock is advisory only (the file is written, nothing is enforced).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from jpegai_eval.framework.errors import UserError

#: The lock file's name inside a run folder.
LOCK_NAME = ".lock"

try:  # POSIX
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


#: The locks this process holds, which a forked child must not keep holding.
_HELD: set[RunLock] = set()


def _drop_inherited_locks() -> None:
    """In a forked child: close the copies of the parent's lock descriptors (the parent
    keeps its lock) and forget them, so that the child can neither hold the lock past
    the parent's death nor remove the parent's lock file."""
    for lock in list(_HELD):
        if lock._fd is not None:
            try:
                os.close(lock._fd)
            except OSError:
                pass
            lock._fd = None
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_drop_inherited_locks)


@dataclass(frozen=True)
class LockHolder:
    """Who holds (or held) a run folder's lock, as its lock file says."""

    pid: int | str = "?"
    host: str = "?"
    started: str | None = None

    @classmethod
    def from_json(cls, data: Any) -> LockHolder | None:
        """The holder a lock file's JSON names; None when it names none."""
        if not isinstance(data, dict) or not data:
            return None
        return cls(data.get("pid", "?"), str(data.get("host", "?")), data.get("started"))

    @classmethod
    def this_process(cls) -> LockHolder:
        return cls(
            os.getpid(), socket.gethostname(), dt.datetime.now().isoformat(timespec="seconds")
        )

    def to_json(self) -> dict[str, object]:
        return {"pid": self.pid, "host": self.host, "started": self.started}


class RunLockedError(UserError):
    """Another live process holds the run folder's lock."""

    def __init__(self, out_dir: Path, holder: LockHolder | None) -> None:
        who = describe_holder(holder)
        super().__init__(
            f"Output folder {str(out_dir)!r} is in use by another run ({who}). Wait for it "
            "to finish, or give another --out. (Two runs into one folder would mix their "
            f"results; the lock is {str(out_dir / LOCK_NAME)!r}.)"
        )
        self.holder = holder


def describe_holder(holder: LockHolder | None) -> str:
    if holder is None:
        return "holder unknown"
    parts = [f"pid {holder.pid} on host {holder.host}"]
    if holder.started:
        parts.append(f"since {holder.started}")
    return ", ".join(parts)


def read_holder(path: Path) -> LockHolder | None:
    """What the lock file at ``path`` says about its holder (None when unreadable)."""
    try:
        return LockHolder.from_json(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return None


def refuse_if_locked(out_dir: str | os.PathLike[str]) -> None:
    """Raise :class:`RunLockedError` at once when a live process holds the lock of
    ``out_dir``; otherwise return, taking nothing.

    ``run`` calls this before its heavy imports and its checks of the dataset and the
    weights, so a second run into a busy folder is refused in a fraction of a second;
    :meth:`RunLock.acquire` remains the lock itself. The probe asks for a shared lock
    and drops it at once: it never blocks, and two probes never refuse each other."""
    path = Path(out_dir) / LOCK_NAME
    try:
        if fcntl is None or not path.is_file():
            return
    except OSError:
        return  # a folder we may not even look into: RunLock.acquire reports it
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return  # unreadable: RunLock.acquire reports the folder
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            raise RunLockedError(Path(out_dir), read_holder(path)) from None
        fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


class RunLock:
    """The exclusive lock on one run folder (see the module docstring)."""

    def __init__(self, out_dir: str | os.PathLike[str]) -> None:
        self.out_dir = Path(out_dir)
        self.path = self.out_dir / LOCK_NAME
        self._fd: int | None = None
        self._created_dir = False
        #: The holder recorded in a lock file left by a dead process, when one was taken over.
        self.stale_holder: LockHolder | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> RunLock:
        """Take the lock (creating the folder if needed) or raise RunLockedError."""
        if self._fd is not None:
            return self
        if not os.path.exists(self.out_dir):
            try:
                self.out_dir.mkdir(parents=True)
            except FileExistsError:
                pass
            except OSError as exc:
                raise UserError(
                    f"Cannot create output folder {str(self.out_dir)!r}: "
                    f"{exc.strerror or exc}. Give a writable --out."
                ) from None
            else:
                self._created_dir = True
        while True:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                self._undo_dir()
                raise UserError(
                    f"Cannot write to output folder {str(self.out_dir)!r} "
                    f"({exc.strerror or exc}). Give a writable --out."
                ) from None
            if fcntl is not None:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    os.close(fd)
                    raise RunLockedError(self.out_dir, read_holder(self.path)) from None
                # The previous holder may have removed the file between our open and our
                # flock: then we locked an orphan inode; start again on the new file.
                try:
                    same = os.stat(self.path).st_ino == os.fstat(fd).st_ino
                except FileNotFoundError:
                    same = False
                if not same:
                    os.close(fd)
                    continue
            break
        self.stale_holder = read_holder(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(LockHolder.this_process().to_json()).encode())
        os.fsync(fd)
        self._fd = fd
        _HELD.add(self)
        return self

    def release(self) -> None:
        """Drop the lock and its file; remove the folder if this lock made it and it is
        still empty."""
        if self._fd is None:
            return
        _HELD.discard(self)
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass
        os.close(self._fd)  # closing drops the flock
        self._fd = None
        self._undo_dir()

    def _undo_dir(self) -> None:
        if self._created_dir:
            try:
                self.out_dir.rmdir()  # only when empty
            except OSError:
                pass
            self._created_dir = False

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
