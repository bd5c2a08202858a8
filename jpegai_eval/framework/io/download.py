"""Downloading the files a study needs, and the one switch that forbids it.

Every network access of the tool goes through :func:`require_network` (called by
:func:`download`, which every code path that downloads uses). With
``JPEGAI_EVAL_OFFLINE=1`` in the environment, or ``--offline`` on ``run``, ``fetch`` and
``bench``, it raises :class:`OfflineError` naming the file, the folder it is looked for
in and its URL, and :func:`enforce_offline` additionally makes ``urllib`` refuse every
``http``, ``https`` and ``ftp`` request in this process, so that nothing else (torch hub,
torchvision's and CompressAI's model loaders) downloads behind the tool's back.
``file://`` URLs (a mirror on a shared file system) are not network and stay allowed.

:func:`download` fetches one :class:`~jpegai_eval.framework.io.remote.RemoteFile`: over
HTTP(S) with ``urllib``, into ``NAME.part`` next to where it belongs, resuming an earlier
``.part`` with a ``Range`` request, retrying a bounded number of times with exponential
backoff, showing progress (a bar on a terminal, a line every few seconds otherwise),
and renaming the ``.part`` only once it is complete and verified; a file that fails
verification is removed and refused.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

from jpegai_eval.framework.errors import UserError
from jpegai_eval.framework.io.remote import RemoteFile

OFFLINE_ENV = "JPEGAI_EVAL_OFFLINE"
#: Tries per file (the first one included).
ATTEMPTS = 4
#: Seconds before the first retry; doubled for each further one.
BACKOFF_S = 1.0
TIMEOUT_S = 60.0
CHUNK = 1 << 16
#: Seconds between progress lines when stderr is not a terminal.
LOG_EVERY_S = 5.0
NETWORK_SCHEMES = ("http", "https", "ftp")


class OfflineError(UserError):
    """A file is missing and the network is forbidden."""


class DownloadError(UserError):
    """A download that failed for good (after its retries)."""


class CorruptDownloadError(DownloadError, ValueError):
    """A complete download whose size or checksum is wrong; it was removed."""


class _Interrupted(Exception):
    """The connection ended before the whole file arrived (retried, resumed)."""


# ------------------------------------------------------------------------ offline


def is_offline() -> bool:
    """True when ``JPEGAI_EVAL_OFFLINE`` is set to a true flag (``1``, ``true``, ``yes``,
    ``on``); a value that is no flag is a SettingError."""
    from jpegai_eval.framework.settings import value

    return bool(value(OFFLINE_ENV))


def set_offline() -> None:
    """Forbid the network in this process and in the processes it starts."""
    os.environ[OFFLINE_ENV] = "1"
    enforce_offline()


class _RefuseNetwork(urllib.request.BaseHandler):
    """A urllib handler, first in line, that refuses every network scheme."""

    handler_order = 0

    def _refuse(self, req: urllib.request.Request) -> Any:
        if not is_offline():
            return None  # the next handler opens it (the switch was turned off)
        raise OfflineError(
            f"{OFFLINE_ENV} is set (or --offline was given): refusing to open "
            f"{req.full_url}. Run `jpegai-eval fetch` with the same options on a machine "
            "with network access and copy the files here, or unset it."
        )

    http_open = https_open = ftp_open = _refuse


_enforced = False


def enforce_offline() -> None:
    """When offline, make this process's ``urllib`` (which torch hub, torchvision and
    CompressAI download with) refuse network URLs. Idempotent; a no-op when online."""
    global _enforced
    if _enforced or not is_offline():
        return
    urllib.request.install_opener(urllib.request.build_opener(_RefuseNetwork()))
    _enforced = True


def require_network(file: RemoteFile, url: str | None = None) -> None:
    """Raise :class:`OfflineError` if ``file`` would have to be downloaded over the
    network while offline. Every download path calls this first."""
    url = url or file.url
    if not is_offline() or url.split(":", 1)[0].lower() not in NETWORK_SCHEMES:
        return
    enforce_offline()
    raise OfflineError(
        f"{file.what}: file {file.name} is not in {str(file.folder)!r}, and the network is "
        f"forbidden ({OFFLINE_ENV} is set or --offline was given). Download {url} into "
        "that folder on a machine with network access (`jpegai-eval fetch` with the same "
        "options does it, into the same places) and copy it here."
    )


# ----------------------------------------------------------------------- progress


class _Progress:
    """A tqdm bar on a terminal; otherwise a line every :data:`LOG_EVERY_S` seconds."""

    def __init__(self, name: str, total: int | None, initial: int, stream: IO[str]) -> None:
        self.name, self.total, self.done, self.stream = name, total, initial, stream
        self.bar: Any = None
        self.start = self.last = time.monotonic()
        self.start_bytes = initial
        if stream.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                initial=initial,
                desc=name,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                file=stream,
                dynamic_ncols=True,
                leave=True,
            )
        elif initial:
            self._line(f"resuming at {_size(initial)}")

    def update(self, n: int) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
        elif time.monotonic() - self.last >= LOG_EVERY_S:
            self._line()

    def _line(self, note: str = "") -> None:
        self.last = now = time.monotonic()
        rate = (self.done - self.start_bytes) / max(now - self.start, 1e-6)
        share = f"{100 * self.done / self.total:.0f}% " if self.total else ""
        of = f" of {_size(self.total)}" if self.total else ""
        text = note or f"{share}({_size(self.done)}{of}), {_size(rate)}/s"
        print(f"fetch: {self.name}: {text}", file=self.stream, flush=True)

    def close(self, complete: bool) -> None:
        if self.bar is not None:
            self.bar.close()
        elif complete:
            self._line(f"{_size(self.done)} downloaded")


def _size(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


# ----------------------------------------------------------------------- download


def part_path(file: RemoteFile) -> Path:
    """Where a download in progress is kept: ``NAME.part`` next to the file."""
    return file.path.with_name(file.name + ".part")


def _server_error(
    file: RemoteFile, url: str, status: str, tries: int, transient: bool = False
) -> DownloadError:
    if transient:
        what_to_do = (
            f" after {tries} {'try' if tries == 1 else 'tries'}. The server may be down or "
            "the connection unstable: try again later"
        )
    else:
        env = f" (or the mirror set with {file.url_env})" if file.url_env else ""
        what_to_do = f". Check the URL{env}"
    return DownloadError(
        f"Cannot download {file.what} ({file.name}) from {url}: {status}{what_to_do}, or "
        f"download the file by hand into {str(file.folder)!r}. A partial download, if any, "
        f"is kept as {part_path(file).name} and resumed next time."
    )


def _disk_error(file: RemoteFile, where: Path, exc: OSError) -> DownloadError:
    return DownloadError(
        f"Cannot write {file.what} ({file.name}) to {str(where)!r}: "
        f"{exc.strerror or exc}. Free some space or fix the folder's permissions, or "
        "choose another folder (--weights-dir, --data-root, TORCH_HOME)."
    )


def _attempt(file: RemoteFile, url: str, part: Path, stream: IO[str], timeout: float) -> None:
    """One request: resume ``part`` (or start it) and read to the end. Raises
    :class:`_Interrupted` if the connection ended early."""
    offset = part.stat().st_size if part.is_file() else 0
    request = urllib.request.Request(url, headers={"User-Agent": "jpegai-eval"})
    if offset:
        request.add_header("Range", f"bytes={offset}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and offset:  # nothing left to send: the .part is complete
            exc.close()
            return
        raise
    with response:
        status = getattr(response, "status", None)
        resumed = bool(offset) and status == 206
        if resumed:
            match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                resumed = False
        if not resumed:
            offset = 0  # the server sends the whole file: start over
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else file.size
        progress = _Progress(file.name, total, offset, stream)
        complete = False
        try:
            try:
                out = open(part, "ab" if resumed else "wb")  # noqa: SIM115
            except OSError as exc:
                raise _disk_error(file, part, exc) from None
            with out:
                while chunk := response.read(CHUNK):
                    try:
                        out.write(chunk)
                    except OSError as exc:
                        raise _disk_error(file, part, exc) from None
                    progress.update(len(chunk))
            got = part.stat().st_size
            if total is not None and got < total:
                raise _Interrupted(f"connection closed after {got} of {total} bytes")
            complete = True
        finally:
            progress.close(complete)


def download(
    file: RemoteFile,
    *,
    attempts: int | None = None,
    timeout: float = TIMEOUT_S,
    stream: IO[str] | None = None,
) -> Path:
    """Download ``file`` into its folder; return its path.

    Resumes ``NAME.part`` if one is there, retries interrupted transfers and server
    errors (5xx, 429) up to ``attempts`` times with exponential backoff, verifies the
    complete ``.part`` (:meth:`RemoteFile.verify`) and only then renames it. Raises
    :class:`OfflineError` when offline, :class:`CorruptDownloadError` (the file removed)
    when verification fails, :class:`DownloadError` for anything else.
    """
    url = file.url
    require_network(file, url)
    stream = stream if stream is not None else sys.stderr
    attempts = attempts if attempts is not None else ATTEMPTS
    try:
        file.folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _disk_error(file, file.folder, exc) from None
    part = part_path(file)
    last = ""
    for attempt in range(1, attempts + 1):
        try:
            _attempt(file, url, part, stream, timeout)
            break
        except ValueError as exc:  # urllib: an unknown URL type
            raise _server_error(file, url, f"the URL is not valid ({exc})", 1) from None
        except urllib.error.HTTPError as exc:
            status = f"the server answered HTTP {exc.code} {exc.reason}"
            exc.close()
            if exc.code < 500 and exc.code not in (408, 429):
                raise _server_error(file, url, status, 1) from None
            last = status
        except (_Interrupted, http.client.HTTPException, OSError) as exc:
            # URLError, resets, timeouts, TLS errors (disk errors are DownloadErrors)
            reason = getattr(exc, "reason", None) or exc
            last = f"the transfer failed ({reason})"
            if isinstance(exc, urllib.error.URLError) and isinstance(exc.reason, OfflineError):
                raise exc.reason from None
            if isinstance(exc, urllib.error.URLError) and url.startswith("file:"):
                raise _server_error(file, url, last, 1) from None
        if attempt < attempts:
            delay = BACKOFF_S * 2 ** (attempt - 1)
            print(
                f"fetch: {file.name}: {last}; retrying in {delay:g} s "
                f"(try {attempt + 1} of {attempts})",
                file=stream,
                flush=True,
            )
            time.sleep(delay)
    else:
        raise _server_error(file, url, last, attempts, transient=True)
    problem = file.verify(part)
    if problem is not None:
        part.unlink(missing_ok=True)
        raise CorruptDownloadError(
            f"The download of {file.what} ({file.name}) from {url} is corrupt: {problem}. "
            f"It was removed. Run the command again; if it fails the same way, the server "
            f"(or mirror{f' set with {file.url_env}' if file.url_env else ''}) serves "
            f"another file: download it by hand and check it before putting it in "
            f"{str(file.folder)!r}."
        )
    os.replace(part, file.path)
    return file.path


def ensure(file: RemoteFile, **kwargs: Any) -> Path:
    """``file``'s path: as it is if present, else downloaded (see :func:`download`)."""
    if file.path.is_file():
        return file.path
    return download(file, **kwargs)


def unpack(file: RemoteFile, into: Path | None = None) -> Path:
    """Unpack the tar archive ``file`` into ``into`` (default ``file.unpack_into``),
    dropping the archive's single top-level folder if it has one. Member paths are
    checked (tarfile's ``data`` filter): nothing lands outside ``into``."""
    import tarfile

    target = Path(into if into is not None else file.unpack_into or file.folder)
    target.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(file.path) as tar:
            members = tar.getmembers()
            tops = {m.name.split("/", 1)[0] for m in members if m.name not in ("", ".")}
            strip = (
                next(iter(tops)) + "/"
                if len(tops) == 1
                and any(m.name.startswith(next(iter(tops)) + "/") for m in members)
                else ""
            )
            chosen = []
            for member in members:
                if strip:
                    if not member.name.startswith(strip):
                        continue
                    member.name = member.name[len(strip) :]
                chosen.append(member)
            tar.extractall(target, members=chosen, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DownloadError(
            f"Cannot unpack {file.what} {str(file.path)!r} into {str(target)!r} ({exc}). "
            "Delete the archive so that it is downloaded again, or unpack it by hand."
        ) from None
    return target


# A process of the tool started with JPEGAI_EVAL_OFFLINE set (an encode worker, a
# DataLoader worker, a torchrun rank) is guarded from the moment this module loads.
enforce_offline()
