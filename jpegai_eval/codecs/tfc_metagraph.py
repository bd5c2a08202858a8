"""TFC metagraphs the way ``tfci`` finds and runs them: cache, download, signatures.

TensorFlow-Compression publishes its trained models as frozen TF1 metagraphs
(``bmshj2018-hyperprior-msssim-1.metagraph`` ...) under :data:`URL_PREFIX`. Each holds a
``sender`` signature (image in, entropy-coded strings and shapes out) and a ``receiver``
signature (those tensors in, the reconstruction out). ``tfci`` caches the files by model
name in one folder, downloads a missing one, imports it with
``tf.compat.v1.wrap_function(import_meta_graph)`` and prunes the imported graph to each
signature. This module does the same, plus the compressed-domain path: the receiver
graph pruned to y_hat and sigma_hat, so that the synthesis transform never runs.

Where the files live (first match wins):

- ``weights`` given as a ``.metagraph`` file: that file;
- ``weights`` given as a folder: ``FOLDER/<model>.metagraph``;
- otherwise (None or ``"pretrained"``): ``WEIGHTS_DIR/<model>.metagraph`` where
  ``WEIGHTS_DIR`` is ``--weights-dir``, else ``$JPEGAI_EVAL_TFC_DIR``, else
  ``~/.cache/jpegai-eval/tfc`` (tfci itself caches in ``/tmp/tfc_metagraphs``; point
  ``--weights-dir`` there to reuse its downloads).

A missing file in a folder is downloaded from ``$JPEGAI_EVAL_TFC_URL`` (default
:data:`URL_PREFIX`) into that folder; offline, the error names the file, the folder and
the URL. TensorFlow is imported only inside the functions that run graphs.
"""

from __future__ import annotations

import os
import re
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jpegai_eval.framework.errors import WeightsError

URL_PREFIX = "https://storage.googleapis.com/tensorflow_compression/metagraphs"
CACHE_ENV = "JPEGAI_EVAL_TFC_DIR"
URL_ENV = "JPEGAI_EVAL_TFC_URL"
TENSORS_ENV = "JPEGAI_EVAL_TFC_TENSORS"
SUFFIX = ".metagraph"
DOWNLOAD_TIMEOUT_S = 60

#: Name scopes that hold the synthesis transform g_s and the hyper synthesis h_s in
#: TFC's hyperprior graphs, per model family. y_hat is the tensor that enters the g_s
#: scope, sigma_hat the one that leaves the h_s scope. Override the discovered tensors
#: with ``JPEGAI_EVAL_TFC_TENSORS="y_hat=NAME:0,sigma_hat=NAME:0"``.
SCOPES: dict[str, dict[str, str]] = {
    "bmshj2018-hyperprior": {
        "synthesis": r"(synthesis|synthesis_transform)(_\d+)?",
        "hyper_synthesis": r"(hyper_synthesis|hyper_synthesis_transform)(_\d+)?",
    },
}
LATENT_NAMES = ("y_hat", "sigma_hat")


def default_cache_dir() -> Path:
    """``$JPEGAI_EVAL_TFC_DIR``, else ``~/.cache/jpegai-eval/tfc``."""
    value = os.environ.get(CACHE_ENV)
    if value:
        return Path(value).expanduser()
    return Path.home() / ".cache" / "jpegai-eval" / "tfc"


def url_prefix() -> str:
    return os.environ.get(URL_ENV, URL_PREFIX).rstrip("/")


def find_metagraph(
    model: str,
    weights: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
) -> Path:
    """The ``.metagraph`` file of ``model`` for ``weights``, downloading it if missing.

    ``weights_dir`` is the cache folder used for None / ``"pretrained"`` (default
    :func:`default_cache_dir`).
    """
    filename = model + SUFFIX
    if weights is None or str(weights) == "pretrained":
        folder = Path(weights_dir).expanduser() if weights_dir else default_cache_dir()
    elif str(weights) == "demo":
        raise WeightsError(
            "The tfc backend has no 'demo' weights: it runs TensorFlow-Compression's "
            f"published metagraphs such as {filename}. Give 'pretrained' (the cache "
            f"folder ${CACHE_ENV} or ~/.cache/jpegai-eval/tfc, downloaded when online), a "
            "folder of .metagraph files, or one .metagraph file; the demo weights belong "
            "to the compressai backend."
        )
    else:
        path = Path(weights).expanduser()
        if path.suffix == SUFFIX:
            if not path.is_file():
                raise WeightsError(
                    f"The TFC metagraph {str(path)!r} does not exist. Give an existing "
                    f"{SUFFIX} file, or a folder holding {filename}."
                )
            return path
        if path.exists() and not path.is_dir():
            raise WeightsError(
                f"TFC weights {str(path)!r} is neither a {SUFFIX} file nor a folder. Give "
                f"a folder holding {filename} (e.g. tfci's metagraph cache), a {SUFFIX} "
                "file, or 'pretrained' for the default cache folder."
            )
        folder = path
    target = folder / filename
    if not target.is_file():
        _download(filename, folder)
    return target


def _download(filename: str, folder: Path) -> None:
    url = f"{url_prefix()}/{filename}"
    try:
        with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
            data = response.read()
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise WeightsError(
            f"The TFC metagraph {filename} is not in {str(folder)!r} and could not be "
            f"downloaded from {url} ({exc}). Download it on a machine that is online "
            f"and copy it into that folder, or give its folder with --weights-dir "
            f"(default: ${CACHE_ENV} or ~/.cache/jpegai-eval/tfc)."
        ) from None
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{filename}.{os.getpid()}.part"
    tmp.write_bytes(data)
    os.replace(tmp, folder / filename)


def tensor_overrides(spec: str | None = None) -> dict[str, str]:
    """Parse ``"y_hat=NAME:0,sigma_hat=NAME:0"`` (default: ``$JPEGAI_EVAL_TFC_TENSORS``)."""
    spec = os.environ.get(TENSORS_ENV, "") if spec is None else spec
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, name = item.partition("=")
        key, name = key.strip(), name.strip()
        if not sep or key not in LATENT_NAMES or not name:
            raise WeightsError(
                f"Cannot read the tensor setting {item!r} (from {TENSORS_ENV} or "
                "--tensor). Write KEY=TENSOR with KEY one of y_hat, sigma_hat, e.g. "
                "y_hat=scope/op:0; `jpegai-eval codec tensors --backend tfc` "
                "lists the tensors."
            )
        out[key] = name if ":" in name else name + ":0"
    return out


def _family(model: str) -> str:
    return re.sub(r"-(msssim|mse)-\d+$", "", model)


def _is_feature_map(tensor: Any) -> bool:
    """A computed float (1, h, w, C) tensor -- not a constant, kernel or shape."""
    shape = tensor.shape
    return (
        tensor.dtype.is_floating
        and tensor.op.type != "Const"
        and (shape.rank is None or (shape.rank == 4 and shape[0] in (None, 1)))
    )


@dataclass
class TensorInfo:
    """A tensor of the imported graph, for listings."""

    name: str
    dtype: str
    shape: str

    @classmethod
    def of(cls, tensor: Any) -> TensorInfo:
        shape = tensor.shape
        dims = (
            "?"
            if shape.rank is None
            else ", ".join(str(d) if d is not None else "?" for d in shape)
        )
        return cls(tensor.name, tensor.dtype.name, f"({dims})")


@dataclass
class Latents:
    """Where y_hat and sigma_hat are in the receiver graph, and how that was decided."""

    names: dict[str, str]
    how: dict[str, str]
    candidates: dict[str, list[str]] = field(default_factory=dict)


class Metagraph:
    """One imported metagraph: its sender, receiver and compressed-domain functions."""

    def __init__(self, path: Path, model: str, tensors: dict[str, str] | None = None) -> None:
        import tensorflow as tf
        import tensorflow_compression  # noqa: F401  (registers the range-coding ops)

        self.path = Path(path)
        self.model = model
        self.data = self.path.read_bytes()
        metagraph = tf.compat.v1.MetaGraphDef()
        try:
            metagraph.ParseFromString(self.data)
        except Exception as exc:  # protobuf's DecodeError
            raise WeightsError(
                f"{str(self.path)!r} is not a TensorFlow metagraph ({exc}). Delete it so "
                f"that it is downloaded again, or give a {SUFFIX} file written by TFC."
            ) from None
        for name in ("sender", "receiver"):
            if name not in metagraph.signature_def:
                have = ", ".join(sorted(metagraph.signature_def)) or "none"
                raise WeightsError(
                    f"The metagraph {str(self.path)!r} has no {name!r} signature (it has: "
                    f"{have}). Use a tfci model metagraph such as {model}{SUFFIX}."
                )
        self.metagraph = metagraph
        # A frozen metagraph needs only its graph and signatures; its collections (empty
        # variable lists and the like) only make import_meta_graph print warnings.
        graph_only = tf.compat.v1.MetaGraphDef()
        graph_only.CopyFrom(metagraph)
        graph_only.ClearField("collection_def")
        self.wrapped = tf.compat.v1.wrap_function(
            lambda: tf.compat.v1.train.import_meta_graph(graph_only), []
        )
        self.graph = self.wrapped.graph
        self.signature = {
            name: {
                part: [
                    (key, self.graph.as_graph_element(getattr(sig, part)[key].name))
                    for key in sorted(getattr(sig, part))
                ]
                for part in ("inputs", "outputs")
            }
            for name, sig in metagraph.signature_def.items()
            if name in ("sender", "receiver")
        }
        self.sender = self._prune("sender")
        self.receiver = self._prune("receiver")
        self._tensors = tensors or {}

    @cached_property
    def latent_tensors(self) -> Latents:
        """y_hat and sigma_hat: configured, else discovered (a WeightsError if neither)."""
        return self._find_latents(tensor_overrides() | self._tensors)

    @cached_property
    def compressed(self) -> Any:
        """The receiver pruned to (y_hat, sigma_hat): entropy decoding and h_s, no g_s."""
        return self.wrapped.prune(
            [t for _, t in self.signature["receiver"]["inputs"]],
            [self.graph.get_tensor_by_name(self.latent_tensors.names[k]) for k in LATENT_NAMES],
        )

    def _prune(self, name: str) -> Any:
        sig = self.signature[name]
        return self.wrapped.prune([t for _, t in sig["inputs"]], [t for _, t in sig["outputs"]])

    @property
    def receiver_input_dtypes(self) -> list[Any]:
        return [t.dtype for _, t in self.signature["receiver"]["inputs"]]

    # -- discovery ------------------------------------------------------------------
    def receiver_ops(self) -> list[Any]:
        """The ops the receiver signature runs, inputs to outputs (backward closure)."""
        stop = {t.op for _, t in self.signature["receiver"]["inputs"]}
        seen: dict[str, Any] = {}
        todo = [t.op for _, t in self.signature["receiver"]["outputs"]]
        while todo:
            op = todo.pop()
            if op.name in seen:
                continue
            seen[op.name] = op
            if op in stop:
                continue
            todo.extend(t.op for t in op.inputs)
            todo.extend(op.control_inputs)
        return list(seen.values())

    def scope_pattern(self, part: str) -> re.Pattern[str]:
        scopes = SCOPES.get(_family(self.model), SCOPES["bmshj2018-hyperprior"])
        return re.compile(rf"(^|/){scopes[part]}(/|$)")

    def _find_latents(self, overrides: dict[str, str]) -> Latents:
        ops = self.receiver_ops()
        names: dict[str, str] = {}
        how: dict[str, str] = {}
        candidates: dict[str, list[str]] = {}
        for key in LATENT_NAMES:
            if key in overrides:
                try:
                    self.graph.get_tensor_by_name(overrides[key])
                except (KeyError, ValueError) as exc:
                    raise WeightsError(
                        f"The {key} tensor {overrides[key]!r} (set by {TENSORS_ENV} or "
                        f"--tensor) is not in {self.path.name} ({exc}). List the graph's "
                        "tensors with `jpegai-eval codec tensors --backend tfc` and give "
                        "one of them."
                    ) from None
                names[key] = overrides[key]
                how[key] = "configured"
                continue
            found = self._boundary(ops, key)
            candidates[key] = found
            if len(found) != 1:
                scope = "synthesis" if key == "y_hat" else "hyper_synthesis"
                listing = ", ".join(found) if found else "none"
                raise WeightsError(
                    f"Cannot find {key} in the receiver graph of {self.path.name}: expected "
                    f"one float tensor crossing the {scope!r} scope boundary (pattern "
                    f"{self.scope_pattern(scope).pattern}), found {listing}. List the "
                    "tensors with `jpegai-eval codec tensors --backend tfc ...` and set "
                    f'{TENSORS_ENV}="y_hat=NAME:0,sigma_hat=NAME:0".'
                )
            names[key] = found[0]
            how[key] = "discovered"
        return Latents(names, how, candidates)

    def _boundary(self, ops: list[Any], key: str) -> list[str]:
        """Float tensors entering the g_s scope (y_hat) or leaving the h_s scope (sigma_hat)."""
        scope = self.scope_pattern("synthesis" if key == "y_hat" else "hyper_synthesis")
        hyper = self.scope_pattern("hyper_synthesis")

        def inside(op: Any) -> bool:
            if key == "y_hat":
                return bool(scope.search(op.name)) and not hyper.search(op.name)
            return bool(scope.search(op.name))

        in_scope = {op.name for op in ops if inside(op)}
        in_receiver = {op.name for op in ops}
        found: list[str] = []
        for op in ops:
            for tensor in op.outputs:
                if not _is_feature_map(tensor):
                    continue
                consumers = [c for c in tensor.consumers() if c.name in in_receiver]
                if key == "y_hat":
                    hit = op.name not in in_scope and any(c.name in in_scope for c in consumers)
                else:
                    hit = op.name in in_scope and any(c.name not in in_scope for c in consumers)
                if hit and tensor.name not in found:
                    found.append(tensor.name)
        return sorted(found)

    def float_tensors(self) -> list[TensorInfo]:
        """Rank-4 float tensors the receiver computes outside g_s: the candidates for
        y_hat and sigma_hat (a tensor inside g_s would make the latents path run it)."""
        g_s = self.scope_pattern("synthesis")
        h_s = self.scope_pattern("hyper_synthesis")
        return sorted(
            (
                TensorInfo.of(t)
                for op in self.receiver_ops()
                if not (g_s.search(op.name) and not h_s.search(op.name))
                for t in op.outputs
                if _is_feature_map(t)
            ),
            key=lambda i: i.name,
        )

    def all_tensors(self, signature: str = "receiver") -> list[TensorInfo]:
        """Every tensor of a signature's graph, as ``tfci tensors`` prints them."""
        fn = self.sender if signature == "sender" else self.receiver
        return sorted(
            (TensorInfo.of(t) for op in fn.graph.get_operations() for t in op.outputs),
            key=lambda i: i.name,
        )
