"""`jpegai-eval fetch` and the offline switch, against a real HTTP server on 127.0.0.1.

The server serves stand-in files (a tiny CompressAI checkpoint whose name carries its
real SHA-256 prefix, a tiny MINC-layout tarball) under URL prefixes that the
``JPEGAI_EVAL_*_URL`` variables point at. A socket guard records every connection and
DNS lookup: only 127.0.0.1 may be contacted, and offline nothing at all.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import tarfile
import threading
import urllib.request

import pytest
from click.testing import CliRunner

from jpegai_eval.cli import cli
from jpegai_eval.codecs import weights as w
from jpegai_eval.framework.io import download as dl
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.tasks import imagenet, minc

# ------------------------------------------------------------------ socket guard


class SocketGuard:
    """Records (and refuses) connections: to anything but loopback, or to anything."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, allow_loopback: bool) -> None:
        self.allow_loopback = allow_loopback
        self.refused: list[str] = []
        real_connect = socket.socket.connect
        real_getaddrinfo = socket.getaddrinfo

        def allowed(host: object) -> bool:
            return self.allow_loopback and str(host) in ("127.0.0.1", "localhost")

        def connect(sock: socket.socket, address: object) -> object:
            host = address[0] if isinstance(address, tuple) else address
            if sock.family == socket.AF_UNIX or allowed(host):
                return real_connect(sock, address)
            self.refused.append(f"connect {address!r}")
            raise AssertionError(f"network access in a test: connect to {address!r}")

        def getaddrinfo(host: object, *args: object, **kwargs: object) -> object:
            if host is None or allowed(host):
                return real_getaddrinfo(host, *args, **kwargs)
            self.refused.append(f"getaddrinfo {host!r}")
            raise AssertionError(f"network access in a test: DNS lookup of {host!r}")

        monkeypatch.setattr(socket.socket, "connect", connect)
        monkeypatch.setattr(socket.socket, "connect_ex", connect)
        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def loopback_only(monkeypatch):
    guard = SocketGuard(monkeypatch, allow_loopback=True)
    yield guard
    assert guard.refused == []


@pytest.fixture(autouse=True)
def _online_and_urllib_restored(monkeypatch):
    """Each test starts online; the urllib opener --offline installs is removed after."""
    monkeypatch.setenv(dl.OFFLINE_ENV, "")
    monkeypatch.setattr(dl, "BACKOFF_S", 0.01)
    yield
    urllib.request.install_opener(None)
    dl._enforced = False


# ------------------------------------------------------------------------ server


class Server:
    """Files by URL path, with Range support; per-path failures on demand."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.status: dict[str, int] = {}  # path -> HTTP status to answer with
        self.drop_once: set[str] = set()  # paths whose first answer stops halfway
        self.ignore_range = False  # answer 200 with the whole file, as some servers do
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, self.headers.get("Range")))
                if self.path in server.status:
                    self.send_error(server.status[self.path])
                    return
                data = server.files.get(self.path)
                if data is None:
                    self.send_error(404)
                    return
                start = 0
                ranged = None if server.ignore_range else self.headers.get("Range")
                if ranged:
                    start = int(ranged.removeprefix("bytes=").split("-")[0])
                    if start >= len(data):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
                else:
                    self.send_response(200)
                body = data[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.path in server.drop_once:
                    server.drop_once.discard(self.path)
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    s = Server()
    yield s
    s.close()


# --------------------------------------------------------------------- stand-ins


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """A tiny checkpoint named with its SHA-256 prefix, and a MINC-layout tarball."""
    from jpegai_eval.codecs.testing import write_tiny_checkpoint
    from jpegai_eval.tasks.demo import write_demo_dataset

    folder = tmp_path_factory.mktemp("stand-ins")
    raw = folder / "tiny.pt"
    write_tiny_checkpoint(raw, "hyperprior-msssim", 1)
    checkpoint = raw.read_bytes()
    name = f"bmshj2018-hyperprior-ms-ssim-1-{hashlib.sha256(checkpoint).hexdigest()[:8]}.pth.tar"
    dataset = write_demo_dataset(folder / "minc-2500", per_class=3, size=64, seed=1)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        tar.add(dataset, arcname="minc-2500")
    return {"checkpoint": checkpoint, "name": name, "tarball": buffer.getvalue()}


@pytest.fixture
def study(stand_ins, server, monkeypatch, tmp_path):
    """The server holds the stand-ins; the URL prefixes, the zoo's file name and the
    archive's recorded checksum point at them; torch hub's folder is the test's own."""
    from compressai.zoo.image import model_urls

    name, tarball = stand_ins["name"], stand_ins["tarball"]
    server.files[f"/compressai/{name}"] = stand_ins["checkpoint"]
    server.files["/minc/minc-2500.tar.gz"] = tarball
    monkeypatch.setenv(w.COMPRESSAI_URL_ENV, f"{server.url}/compressai")
    monkeypatch.setenv("JPEGAI_EVAL_MINC_URL", f"{server.url}/minc/")
    monkeypatch.setenv(imagenet.TORCHVISION_URL_ENV, f"{server.url}/torchvision")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv(w.WEIGHTS_DIR_ENV, raising=False)
    monkeypatch.delenv(minc.ROOT_ENV, raising=False)
    w.import_compressai()
    urls = dict(model_urls[w.ARCHITECTURE]["ms-ssim"])
    urls[1] = f"{w.COMPRESSAI_URL_PREFIX}/{name}"  # the zoo's table, with the stand-in's name
    monkeypatch.setitem(model_urls[w.ARCHITECTURE], "ms-ssim", urls)
    monkeypatch.setattr(minc, "MINC_SHA1", hashlib.sha1(tarball).hexdigest())
    root = tmp_path / "minc"
    options = [
        "--codec",
        "hyperprior-msssim",
        "--weights",
        "pretrained",
        "--qualities",
        "1",
        "--task",
        "minc",
        "--data-root",
        str(root),
        "--preset",
        "smoke",
    ]
    return {"root": root, "options": options, "name": name, "hub": tmp_path / "torch" / "hub"}


def invoke(args: list[str]):
    return CliRunner().invoke(cli, args, catch_exceptions=False)


# ------------------------------------------------------------------------- tests


@pytest.mark.slow
def test_fetch_places_verified_files_and_run_then_needs_no_network(
    study, server, monkeypatch, tmp_path, loopback_only
):
    listed = invoke(["fetch", "--list", *study["options"]])
    assert listed.exit_code == 0, listed.output
    assert study["name"] in listed.output and "minc-2500.tar.gz" in listed.output
    assert f"{server.url}/compressai/{study['name']}" in listed.output
    assert str(study["hub"] / "checkpoints") in listed.output
    assert listed.output.count("status:") == 2 and "missing" in listed.output
    assert server.requests == []  # --list downloads nothing

    fetched = invoke(["fetch", *study["options"]])
    assert fetched.exit_code == 0, fetched.output
    checkpoint = study["hub"] / "checkpoints" / study["name"]
    assert checkpoint.read_bytes() == server.files[f"/compressai/{study['name']}"]
    root = study["root"]
    assert (root / "labels" / "train1.txt").is_file() and (root / "images" / "brick").is_dir()
    assert not (root / "minc-2500.tar.gz").exists()  # deleted once validated
    assert not list(root.glob("*.part")) and not list(checkpoint.parent.glob("*.part"))

    relisted = invoke(["fetch", "--list", *study["options"]])
    assert "present, verified" in relisted.output and "validated" in relisted.output
    again = invoke(["fetch", *study["options"]])
    assert again.output.count("already there") == 2
    assert len(server.requests) == 2

    # The study itself, with the network forbidden outright.
    server.close()
    guard = SocketGuard(monkeypatch, allow_loopback=False)
    out = tmp_path / "run"
    ran = invoke(
        ["run", "--offline", *study["options"], "--anchors", "anchor2", "--workers", "1"]
        + ["--out", str(out)]
    )
    assert ran.exit_code == 0, ran.output
    assert (out / "results.csv").is_file()
    assert guard.refused == []


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path, loopback_only):
    data = bytes(range(256)) * 4096  # 1 MiB
    name = f"blob-{hashlib.sha256(data).hexdigest()[:10]}.bin"
    server.files[f"/{name}"] = data
    file = RemoteFile(name, tmp_path / "dest", f"{server.url}/{name}", "test blob")

    # An invocation cut off after one (broken) try keeps the .part ...
    server.drop_once.add(f"/{name}")
    with pytest.raises(dl.DownloadError, match="after 1 try"):
        dl.download(file, attempts=1, stream=io.StringIO())
    part = dl.part_path(file)
    assert 0 < part.stat().st_size < len(data) and not file.path.exists()

    # ... and the next one resumes it where it stopped.
    assert dl.download(file, stream=io.StringIO()) == file.path
    assert file.path.read_bytes() == data and not part.exists()
    assert server.requests[-1] == (f"/{name}", f"bytes={len(data) // 2}-")

    # Within one invocation, a dropped connection is retried and resumed.
    file.path.unlink()
    server.drop_once.add(f"/{name}")
    log = io.StringIO()
    dl.download(file, stream=log)
    assert file.path.read_bytes() == data
    assert server.requests[-1][1] == f"bytes={len(data) // 2}-"
    assert "retrying" in log.getvalue() and "connection closed after" in log.getvalue()
    assert f"fetch: {name}: 1.0 MiB downloaded" in log.getvalue()  # not a terminal: lines

    # A server that ignores Range sends the whole file again: the .part starts over.
    file.path.unlink()
    dl.part_path(file).write_bytes(b"stale bytes from an older attempt")
    server.ignore_range = True
    dl.download(file, stream=io.StringIO())
    assert file.path.read_bytes() == data


def test_corrupt_download_is_refused_and_removed(study, server, loopback_only):
    wrong = b"not the ImageNet weights" * 100
    server.files["/torchvision/resnet50-0676ba61.pth"] = wrong
    args = ["fetch", "--codec", "jpeg", "--task", "minc", "--dataset", "demo"]
    result = invoke([*args, "--imagenet-weights", "IMAGENET1K_V1"])
    assert result.exit_code == 1
    assert "corrupt" in result.output and "does not start with 0676ba61" in result.output
    assert "Traceback" not in result.output
    folder = study["hub"] / "checkpoints"
    assert list(folder.iterdir()) == []  # neither the file nor its .part


def test_server_error_ends_in_one_clear_message(study, server, loopback_only):
    server.status["/minc/minc-2500.tar.gz"] = 404
    result = invoke(["fetch", "--codec", "jpeg", "--task", "minc"] + study["options"][-4:])
    assert result.exit_code == 1
    message = result.output.strip()
    assert message.startswith("Error: ") and message.count("Error") == 1, message
    assert "minc-2500.tar.gz" in message and f"{server.url}/minc/minc-2500.tar.gz" in message
    assert "HTTP 404" in message and str(study["root"]) in message
    assert "JPEGAI_EVAL_MINC_URL" in message and "Traceback" not in message
    assert len(server.requests) == 1  # a 404 is not retried

    server.status["/minc/minc-2500.tar.gz"] = 503  # retried, then one message
    result = invoke(["fetch", "--codec", "jpeg", "--task", "minc"] + study["options"][-4:])
    assert result.exit_code == 1 and "HTTP 503" in result.output
    assert f"after {dl.ATTEMPTS} tries" in result.output
    assert len(server.requests) == 1 + dl.ATTEMPTS


def test_offline_makes_no_connection(study, monkeypatch, tmp_path):
    guard = SocketGuard(monkeypatch, allow_loopback=False)
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    listed = invoke(["fetch", "--list", *study["options"]])
    assert listed.exit_code == 0 and "missing" in listed.output

    fetched = invoke(["fetch", *study["options"]])
    assert fetched.exit_code == 1
    assert "network is forbidden" in fetched.output and study["name"] in fetched.output
    assert str(study["hub"] / "checkpoints") in fetched.output
    assert f"/compressai/{study['name']}" in fetched.output

    ran = invoke(["run", *study["options"], "--out", str(tmp_path / "run")])
    assert ran.exit_code == 1 and study["name"] in ran.output
    assert not (tmp_path / "run").exists()

    # Nothing else downloads behind the tool's back: torch hub (which torchvision and
    # CompressAI load their weights with) goes through urllib, which refuses.
    import torch.hub

    dl.enforce_offline()
    with pytest.raises(dl.OfflineError):
        torch.hub.download_url_to_file(
            "https://download.pytorch.org/models/resnet50-0676ba61.pth", str(tmp_path / "x")
        )
    with pytest.raises(Exception, match="network is forbidden"):
        w.pretrained_path("hyperprior-mse", 2, tmp_path / "weights")
    assert guard.refused == []


def test_offline_flag_without_the_variable(study, monkeypatch):
    guard = SocketGuard(monkeypatch, allow_loopback=False)
    result = invoke(["fetch", "--offline", *study["options"]])
    assert result.exit_code == 1 and "network is forbidden" in result.output
    assert guard.refused == []
    for command in ("run", "fetch", "bench"):
        assert "--offline" in invoke([command, "--help"]).output


def test_file_urls_are_a_mirror_that_works_offline(tmp_path, monkeypatch):
    data = b"metagraph bytes"
    (tmp_path / "mirror").mkdir()
    (tmp_path / "mirror" / "m.metagraph").write_bytes(data)
    monkeypatch.setenv(dl.OFFLINE_ENV, "1")
    file = RemoteFile(
        "m.metagraph", tmp_path / "cache", (tmp_path / "mirror").as_uri() + "/m.metagraph", "m"
    )
    assert dl.download(file, stream=io.StringIO()).read_bytes() == data


def test_unpack_strips_the_top_folder_and_refuses_escapes(tmp_path):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name in ("top/labels/a.txt", "top/images/x/y.jpg"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"ok"))
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(buffer.getvalue())
    file = RemoteFile("a.tar.gz", tmp_path, "http://127.0.0.1/a.tar.gz", "archive")
    dl.unpack(file, tmp_path / "root")
    assert (tmp_path / "root" / "labels" / "a.txt").read_bytes() == b"ok"
    evil = io.BytesIO()
    with tarfile.open(fileobj=evil, mode="w") as tar:
        for name in ("inside.txt", "../escape.txt"):
            info = tarfile.TarInfo(name)
            info.size = 2
            tar.addfile(info, io.BytesIO(b"no"))
    archive.write_bytes(evil.getvalue())
    with pytest.raises(dl.DownloadError, match="Cannot unpack"):
        dl.unpack(file, tmp_path / "root2")
    assert not (tmp_path / "escape.txt").exists()


def test_minc_archive_needs_a_data_root(monkeypatch):
    monkeypatch.delenv(minc.ROOT_ENV, raising=False)
    with pytest.raises(Exception, match="--data-root"):
        minc.minc_archive(None)
    assert minc.MincTask().remote_files(dataset="demo", preset="smoke") == []
    files = minc.MincTask().remote_files(dataset="demo", preset="paper")
    assert [f.name for f in files] == ["resnet50-0676ba61.pth"]
    v2 = minc.MincTask().remote_files(dataset="demo", imagenet_weights="IMAGENET1K_V2")
    assert [f.name for f in v2] == ["resnet50-11ad3fa6.pth"]
    assert (
        minc.MincTask().remote_files(dataset="demo", preset="paper", imagenet_weights="none") == []
    )


def test_tfc_metagraphs_are_fetched_into_the_weights_folder(
    server, monkeypatch, tmp_path, loopback_only
):
    from jpegai_eval.codecs import tfc_metagraph

    names = [f"bmshj2018-hyperprior-msssim-{q}.metagraph" for q in (1, 2)]
    for name in names:
        server.files[f"/tfc/{name}"] = name.encode() * 50
    monkeypatch.setenv(tfc_metagraph.URL_ENV, f"{server.url}/tfc")
    folder = tmp_path / "metagraphs"
    args = ["--codec", "hyperprior-msssim/tfc", "--weights", "pretrained", "--qualities", "1,2"]
    args += ["--weights-dir", str(folder), "--task", "minc", "--dataset", "demo"]
    args += ["--preset", "smoke"]
    listed = invoke(["fetch", "--list", *args]).output
    assert listed.count("missing") == 2 and f"{server.url}/tfc/{names[0]}" in listed
    assert "none published" in listed
    result = invoke(["fetch", *args])
    assert result.exit_code == 0, result.output
    for name in names:
        assert (folder / name).read_bytes() == name.encode() * 50
    assert "checked for presence only" in invoke(["fetch", "--list", *args]).output
