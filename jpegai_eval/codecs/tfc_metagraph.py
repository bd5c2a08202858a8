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

- ``weights="demo"``: the small metagraphs shipped in ``codecs/weights/tfc-demo/``
  (``bmshj2018-hyperprior-msssim-{1,4,8}``; trained by this project, see its model card);
- ``weights`` given as a ``.metagraph`` file: that file;
- ``weights`` given as a folder: ``FOLDER/<model>.metagraph``;
- otherwise (None or ``"pretrained"``): ``WEIGHTS_DIR/<model>.metagraph`` where
  ``WEIGHTS_DIR`` is ``--weights-dir``, else ``$JPEGAI_EVAL_TFC_DIR``, else
  ``~/.cache/jpegai-eval/tfc`` (tfci itself caches in ``/tmp/tfc_metagraphs``; point
  ``--weights-dir`` there to reuse its downloads).

A missing file in a folder is downloaded from ``$JPEGAI_EVAL_TFC_URL`` (default
:data:`URL_PREFIX`) into that folder; offline, the error names the file, the folder and
the URL. TensorFlow is imported only inside the functions that run graphs.

The compressed domain comes in two layouts, both found from the receiver graph alone:

- a float hyper synthesis (TFC 2.x models such as this project's own exports): sigma_hat
  is the float tensor leaving the ``hyper_synthesis`` scope;
- an **integer** hyper synthesis (the published ``bmshj2018-hyperprior-*`` metagraphs,
  see ``../shared/reference/tfci-tensors/``): nothing float leaves h_s; its int32 output,
  cropped to y's size (``GridAlign/strided_slice:0``), indexes the rows of a CDF table
  (``entropy_model/entropy_model/pmf_to_cdf/stack``, 64 x 1481) with which the receiver
  range-decodes y (``UnboundedIndexRangeDecode`` -> ``entropy_model/entropy_model_3/
  Cast:0`` = y_hat). sigma_hat is then the *scale* of the row each index selects: every
  row's scale is derived from the table itself (the discretised Gaussian whose variance
  the row has, :func:`scales_from_cdf`) and checked against TFC's scale table
  ``exp(linspace(log 0.11, log 256, 64))`` (:func:`tfc_scale_table`); when they agree the
  exact table values are used, otherwise the derived ones, and :attr:`Latents.mapping`
  says which. The index itself is kept as ``sigma_index``.

Discovery is lazy: ``sender``/``receiver`` (encode, decode) never depend on it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from jpegai_eval.framework.errors import UserError, WeightsError
from jpegai_eval.framework.io.download import download
from jpegai_eval.framework.io.remote import RemoteFile
from jpegai_eval.framework.settings import value as setting_value

URL_PREFIX = "https://storage.googleapis.com/tensorflow_compression/metagraphs"
CACHE_ENV = "JPEGAI_EVAL_TFC_DIR"
URL_ENV = "JPEGAI_EVAL_TFC_URL"
TENSORS_ENV = "JPEGAI_EVAL_TFC_TENSORS"
SUFFIX = ".metagraph"
#: The ``demo`` weights: small hyperpriors trained with TFC by this project and exported
#: as tfci metagraphs (see MODEL_CARD.md there and :mod:`jpegai_eval.codecs.tfc_training`).
DEMO_DIR = Path(__file__).resolve().parent / "weights" / "tfc-demo"

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
#: Keys JPEGAI_EVAL_TFC_TENSORS accepts: sigma_index is the integer scale index of graphs
#: with an integer hyper synthesis (a sigma_hat naming an integer tensor means the same).
OVERRIDE_NAMES = ("y_hat", "sigma_hat", "sigma_index")
#: TFC's default scale table (``tfc.GaussianConditional`` / tfci's models): 64 scales
#: log-spaced from 0.11 to 256.
SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
#: Derived row scales must agree with TFC's table this closely (relative) to use it.
SCALE_TOLERANCE = 0.01
#: Range-decoding op types whose third input is a (rows, width) CDF table, fourth the
#: row lengths and fifth the offsets (the legacy op the published graphs use).
INDEXED_DECODE_OPS = ("UnboundedIndexRangeDecode",)
#: Ops a tensor passes through unchanged on its way into a v1 while loop.
PASS_THROUGH_OPS = ("Enter", "Identity", "Switch", "Merge", "RefEnter", "Snapshot")


def default_cache_dir() -> Path:
    """``$JPEGAI_EVAL_TFC_DIR``, else ``~/.cache/jpegai-eval/tfc``."""
    value = setting_value(CACHE_ENV)
    if value:
        return Path(value)
    return Path.home() / ".cache" / "jpegai-eval" / "tfc"


def url_prefix() -> str:
    return (setting_value(URL_ENV) or URL_PREFIX).rstrip("/")


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
        target = DEMO_DIR / filename
        if not target.is_file():
            have = ", ".join(sorted(p.stem for p in DEMO_DIR.glob(f"*{SUFFIX}"))) or "none"
            raise WeightsError(
                f"The tfc backend has no 'demo' weights for {model}: its demo metagraphs "
                f"(small models this project trained with TFC, see {DEMO_DIR}/MODEL_CARD.md) "
                f"are {have}. Give 'pretrained' (TFC's published metagraphs in the cache "
                f"folder ${CACHE_ENV} or ~/.cache/jpegai-eval/tfc, downloaded when online), a "
                "folder of .metagraph files, or one .metagraph file."
            )
        return target
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


def metagraph_file(filename: str, folder: Path) -> RemoteFile:
    """One metagraph as a :class:`RemoteFile` (TFC publishes no checksums: a download is
    checked for completeness only, and by TensorFlow when it is imported)."""
    return RemoteFile(
        name=filename,
        folder=Path(folder),
        url=f"{url_prefix()}/{filename}",
        what=f"TFC metagraph {filename.removesuffix(SUFFIX)}",
        url_env=URL_ENV,
    )


def remote_metagraph(
    model: str,
    weights: str | os.PathLike[str] | None = None,
    weights_dir: str | os.PathLike[str] | None = None,
) -> RemoteFile | None:
    """The metagraph :func:`find_metagraph` would download for these ``weights``, or
    None when they name no download (a ``.metagraph`` file, ``demo``)."""
    if weights is None or str(weights) == "pretrained":
        folder = Path(weights_dir).expanduser() if weights_dir else default_cache_dir()
    elif str(weights) == "demo" or Path(weights).suffix == SUFFIX:
        return None
    else:
        folder = Path(weights).expanduser()
    return metagraph_file(model + SUFFIX, folder)


def _download(filename: str, folder: Path) -> None:
    file = metagraph_file(filename, folder)
    try:
        download(file)
    except UserError as exc:
        raise WeightsError(
            f"The TFC metagraph {filename} is not in {str(folder)!r} and could not be "
            f"downloaded from {file.url} ({exc}). Download it on a machine that is online "
            f"(`jpegai-eval fetch --codec ...` does it) and copy it into that folder, or "
            f"give its folder with --weights-dir (default: ${CACHE_ENV} or "
            "~/.cache/jpegai-eval/tfc)."
        ) from None


def tensor_overrides(spec: str | None = None) -> dict[str, str]:
    """Parse ``"y_hat=NAME:0,sigma_hat=NAME:0"`` (default: ``$JPEGAI_EVAL_TFC_TENSORS``)."""
    spec = (setting_value(TENSORS_ENV) or "") if spec is None else spec
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in spec.split(","))):
        key, sep, name = item.partition("=")
        key, name = key.strip(), name.strip()
        if not sep or key not in OVERRIDE_NAMES or not name:
            raise WeightsError(
                f"Cannot read the tensor setting {item!r} (from {TENSORS_ENV} or "
                "--tensor). Write KEY=TENSOR with KEY one of y_hat, sigma_hat, "
                "sigma_index, e.g. "
                "y_hat=scope/op:0; `jpegai-eval codec tensors --backend tfc` "
                "lists the tensors."
            )
        out[key] = name if ":" in name else name + ":0"
    return out


def _family(model: str) -> str:
    return re.sub(r"-(msssim|mse)-\d+$", "", model)


def _is_feature_map(tensor: Any, integer: bool = False) -> bool:
    """A computed float (1, h, w, C) tensor -- not a constant, kernel or shape; with
    ``integer``, an integer one counts too (an integer network's activations)."""
    shape = tensor.shape
    dtype = tensor.dtype
    return (
        (dtype.is_floating or (integer and dtype.is_integer))
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


# ------------------------------------------------------------------- scale tables
def tfc_scale_table(num: int = NUM_SCALES) -> Any:
    """TFC's scale table ``exp(linspace(log 0.11, log 256, num))`` (float64)."""
    import numpy as np

    return np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), num))


def _row_pmf(row: Any, length: int | None) -> Any:
    """The symbol probabilities one quantised CDF row encodes (its overflow bin dropped).

    A row is ``0 = c_0 < c_1 < ... < c_{n-1} = 2**precision``, then padding; ``n`` is the
    row's CDF length (symbols + 2: the last bin is the range coder's overflow)."""
    import numpy as np

    row = np.asarray(row, np.float64)
    top = row.max()
    n = int(length) if length else int(np.argmax(row == top)) + 1
    return np.diff(row[:n])[:-1] / top


def scales_from_cdf(cdf: Any, lengths: Any = None) -> tuple[Any, Any]:
    """Per row of a CDF table of discretised zero-mean Gaussians: the scale whose
    discretised distribution (on the row's support) has the row's variance, and whether
    the row is at the coder's precision floor.

    At the floor every symbol but the centre one has the minimum count (1 of
    ``2**precision``): such a row is the same for all small scales, so its derived
    scale is only an upper bound (TFC's 0.11 row gives about 0.12 at 16 bits). Returns
    ``(scales, floor)`` as float64 and bool arrays.
    """
    import numpy as np
    from scipy.special import ndtr

    cdf = np.asarray(cdf)
    scales = np.empty(len(cdf))
    floor = np.zeros(len(cdf), bool)
    for i, row in enumerate(cdf):
        p = _row_pmf(row, None if lengths is None else lengths[i])
        k = np.arange(len(p)) - (len(p) - 1) / 2
        mean = (p * k).sum() / p.sum()
        var = (p * (k - mean) ** 2).sum() / p.sum()
        counts = np.rint(p * np.asarray(row, np.float64).max())
        centre = int(np.argmax(p))
        floor[i] = bool(np.all(np.delete(counts, centre) <= 1))
        lo, hi = np.log(1e-3), np.log(1e5)
        for _ in range(60):  # the model's variance grows with the scale: bisect
            mid = (lo + hi) / 2
            s = np.exp(mid)
            q = ndtr((k + 0.5) / s) - ndtr((k - 0.5) / s)
            lo, hi = (mid, hi) if (q * k * k).sum() / q.sum() < var else (lo, mid)
        scales[i] = np.exp((lo + hi) / 2)
    return scales, floor


def check_scale_table(derived: Any, floor: Any, table: Any = None) -> str | None:
    """``None`` if the derived row scales agree with TFC's table (within
    :data:`SCALE_TOLERANCE`; a floor row only needs the table value below its bound),
    else why not."""
    import numpy as np

    table = tfc_scale_table() if table is None else np.asarray(table)
    if len(derived) != len(table):
        return f"the graph has {len(derived)} CDF rows, TFC's scale table {len(table)}"
    ratio = derived / table - 1
    bad = np.where(floor, ratio < -SCALE_TOLERANCE, np.abs(ratio) > SCALE_TOLERANCE)
    if bad.any():
        i = int(np.argmax(np.where(bad, np.abs(ratio), -1)))
        return (
            f"row {i} encodes scale {derived[i]:.4g} where TFC's table has {table[i]:.4g} "
            f"({int(bad.sum())} of {len(table)} rows differ by more than "
            f"{SCALE_TOLERANCE:.0%})"
        )
    return None


@dataclass
class Latents:
    """Where y_hat and sigma_hat are in the receiver graph, and how that was decided.

    ``names`` holds ``y_hat`` and either ``sigma_hat`` (a float hyper synthesis) or
    ``sigma_index`` (an integer one: sigma_hat = ``scales[sigma_index]``).
    """

    names: dict[str, str]
    how: dict[str, str]
    candidates: dict[str, list[str]] = field(default_factory=dict)
    #: index layout only: the scale of each CDF row, and the tensors they came from.
    scales: Any = None
    tables: dict[str, str] = field(default_factory=dict)
    mapping: str = "sigma_hat read from the graph (a float hyper synthesis output)"

    @property
    def fetch(self) -> list[str]:
        """The tensors the compressed-domain function computes, in order."""
        second = "sigma_index" if "sigma_index" in self.names else "sigma_hat"
        return [self.names["y_hat"], self.names[second]]


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
        # Configured names are checked now (a typo is a user error at load time);
        # discovery itself waits until the compressed domain is asked for.
        self.overrides = tensor_overrides() | self._tensors
        for key, name in self.overrides.items():
            try:
                self.graph.get_tensor_by_name(name)
            except (KeyError, ValueError) as exc:
                raise WeightsError(
                    f"The {key} tensor {name!r} (set by {TENSORS_ENV} or --tensor) is not "
                    f"in {self.path.name} ({exc}). List the graph's tensors with "
                    "`jpegai-eval codec tensors --backend tfc` and give one of them."
                ) from None

    @cached_property
    def latent_tensors(self) -> Latents:
        """y_hat and sigma_hat (or the scale index): configured, else discovered.

        A WeightsError naming JPEGAI_EVAL_TFC_TENSORS if neither works; only ``latents``
        and ``codec tensors`` ask for this, never encode or decode."""
        return self._find_latents(self.overrides)

    @cached_property
    def compressed(self) -> Any:
        """The receiver pruned to (y_hat, sigma_hat or its index): entropy decoding and
        h_s, no g_s."""
        return self.wrapped.prune(
            [t for _, t in self.signature["receiver"]["inputs"]],
            [self.graph.get_tensor_by_name(name) for name in self.latent_tensors.fetch],
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

    def _not_found(self, key: str, found: list[str], why: str) -> WeightsError:
        listing = ", ".join(found) if found else "none"
        return WeightsError(
            f"Cannot find {key} in the receiver graph of {self.path.name}: {why}, found "
            f"{listing}. Encoding and decoding are not affected. List the tensors with "
            "`jpegai-eval codec tensors --backend tfc ...` and set "
            f'{TENSORS_ENV}="y_hat=NAME:0,sigma_hat=NAME:0" (or sigma_index=NAME:0 for '
            "an integer scale index)."
        )

    def _find_latents(self, overrides: dict[str, str]) -> Latents:
        ops = self.receiver_ops()
        names: dict[str, str] = {}
        how: dict[str, str] = {}
        candidates: dict[str, list[str]] = {}
        # y_hat: the float tensor entering g_s.
        if "y_hat" in overrides:
            names["y_hat"], how["y_hat"] = overrides["y_hat"], "configured"
        else:
            found = self._boundary(ops, "y_hat")
            candidates["y_hat"] = found
            if len(found) != 1:
                why = (
                    "expected one float tensor entering the 'synthesis' scope (pattern "
                    f"{self.scope_pattern('synthesis').pattern})"
                )
                raise self._not_found("y_hat", found, why)
            names["y_hat"], how["y_hat"] = found[0], "discovered"
        # sigma: a float tensor leaving h_s, or the integer index it computes.
        sigma_key, sigma = "", ""
        for key in ("sigma_index", "sigma_hat"):
            if key in overrides:
                sigma_key, sigma = key, overrides[key]
                how["sigma_hat"] = "configured"
                break
        if not sigma:
            found = self._boundary(ops, "sigma_hat")
            candidates["sigma_hat"] = found
            if len(found) != 1:
                why = (
                    "expected one float tensor or integer scale index leaving the "
                    "'hyper_synthesis' scope (pattern "
                    f"{self.scope_pattern('hyper_synthesis').pattern})"
                )
                raise self._not_found("sigma_hat", found, why)
            sigma, how["sigma_hat"] = found[0], "discovered"
        tensor = self.graph.get_tensor_by_name(sigma)
        if tensor.dtype.is_floating and sigma_key != "sigma_index":
            names["sigma_hat"] = sigma
            return Latents(names, how, candidates)
        if how["sigma_hat"] == "discovered":
            tensor = self._follow_index(tensor, ops)
        names["sigma_index"] = tensor.name
        latents = Latents(names, how, candidates)
        self._scale_mapping(latents)
        return latents

    def _boundary(self, ops: list[Any], key: str) -> list[str]:
        """Float tensors entering the g_s scope (y_hat), or float or integer ones leaving
        the h_s scope (sigma_hat, or the scale index of an integer hyper synthesis)."""
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
                if not _is_feature_map(tensor, integer=key != "y_hat"):
                    continue
                consumers = [c for c in tensor.consumers() if c.name in in_receiver]
                if key == "y_hat":
                    hit = op.name not in in_scope and any(c.name in in_scope for c in consumers)
                else:
                    hit = op.name in in_scope and any(c.name not in in_scope for c in consumers)
                if hit and tensor.name not in found:
                    found.append(tensor.name)
        return sorted(found)

    @staticmethod
    def _follow_index(tensor: Any, ops: list[Any]) -> Any:
        """From h_s's integer output to the index the decoder reads: follow the one
        consumer that keeps it a (1, h, w, C) integer map (the crop to y's size,
        ``GridAlign/strided_slice``), as far as it goes."""
        in_receiver = {op.name for op in ops}
        seen = {tensor.name}
        while True:
            nxt = [
                out
                for c in tensor.consumers()
                if c.name in in_receiver
                for out in c.outputs
                if out.dtype == tensor.dtype
                and out.shape.rank == 4
                and _is_feature_map(out, integer=True)
            ]
            if len(nxt) != 1 or nxt[0].name in seen:
                return tensor
            tensor = nxt[0]
            seen.add(tensor.name)

    def _decoder_of(self, y_hat: Any) -> Any:
        """The indexed range decoder that y_hat comes from (nearest, not through h_s)."""
        h_s = self.scope_pattern("hyper_synthesis")
        stop = {t.op.name for _, t in self.signature["receiver"]["inputs"]}
        seen: set[str] = set()
        todo = [y_hat.op]
        found: list[Any] = []
        while todo:
            op = todo.pop(0)
            if op.name in seen:
                continue
            seen.add(op.name)
            if op.type in INDEXED_DECODE_OPS:
                found.append(op)
                continue
            if op.name in stop or h_s.search(op.name):
                continue
            todo.extend(t.op for t in op.inputs)
            todo.extend(op.control_inputs)
        if not found:  # the nearest one (breadth first) is y's
            raise self._not_found(
                "the CDF table",
                [],
                f"expected y_hat ({y_hat.name}) to come from one {'/'.join(INDEXED_DECODE_OPS)} "
                "op, whose CDF table maps the scale index to scales",
            )
        return found[0]

    def _constant(self, tensor: Any) -> tuple[Any, str]:
        """The value of a constant input (through while-loop Enter and the like)."""
        import tensorflow as tf

        while tensor.op.type in PASS_THROUGH_OPS and tensor.op.inputs:
            tensor = tensor.op.inputs[0]
        if tensor.op.type != "Const":
            raise WeightsError(
                f"The tensor {tensor.name} of {self.path.name} is not a constant; cannot "
                f"read the CDF table. Set {TENSORS_ENV} with sigma_hat=NAME:0 naming a "
                "float scale tensor instead."
            )
        return tf.make_ndarray(tensor.op.get_attr("value")), tensor.name

    def _scale_mapping(self, latents: Latents) -> None:
        """Fill ``latents.scales`` / ``tables`` / ``mapping`` from the y decoder's table."""
        import numpy as np

        y_hat = self.graph.get_tensor_by_name(latents.names["y_hat"])
        decoder = self._decoder_of(y_hat)
        cdf, cdf_name = self._constant(decoder.inputs[2])
        lengths, lengths_name = self._constant(decoder.inputs[3])
        offsets, offsets_name = self._constant(decoder.inputs[4])
        latents.tables = {
            "decoder": decoder.name,
            "cdf": cdf_name,
            "cdf_length": lengths_name,
            "cdf_offset": offsets_name,
        }
        if cdf.ndim != 2 or lengths.shape != (len(cdf),):
            raise WeightsError(
                f"The CDF table {cdf_name} of {self.path.name} has shape {cdf.shape} and "
                f"its lengths {lengths_name} {lengths.shape}; expected (rows, width) and "
                f"(rows,). Set {TENSORS_ENV} with sigma_hat=NAME:0 naming a float scale "
                "tensor instead."
            )
        derived, floor = scales_from_cdf(cdf, lengths)
        problem = check_scale_table(derived, floor)
        if problem is None:
            latents.scales = tfc_scale_table(len(cdf)).astype(np.float32)
            latents.mapping = (
                f"sigma_hat = TFC's scale table exp(linspace(log {SCALE_MIN}, log "
                f"{SCALE_MAX:g}, {NUM_SCALES}))[sigma_index]; the graph's CDF table "
                f"({cdf_name}, {cdf.shape[0]} x {cdf.shape[1]}) encodes these scales "
                f"(each row's discretised-Gaussian scale within {SCALE_TOLERANCE:.0%})"
            )
        else:
            latents.scales = derived.astype(np.float32)
            latents.mapping = (
                f"sigma_hat = the scale each row of the graph's CDF table ({cdf_name}, "
                f"{cdf.shape[0]} x {cdf.shape[1]}) encodes, indexed by sigma_index (the "
                "scale of the discretised Gaussian with the row's variance); TFC's default "
                f"scale table does not fit: {problem}"
            )

    def sigma_from_index(self, index: Any) -> Any:
        """sigma_hat (float32 scales) for an index map, by this graph's mapping."""
        import numpy as np

        scales = self.latent_tensors.scales
        index = np.asarray(index)
        if index.size and (index.min() < 0 or index.max() >= len(scales)):
            raise WeightsError(
                f"The scale index of {self.path.name} ranges over {index.min()}..."
                f"{index.max()}, but the CDF table has {len(scales)} rows. Check the "
                f"sigma_index tensor ({TENSORS_ENV})."
            )
        return scales[index]

    def candidate_tensors(self) -> list[TensorInfo]:
        """(1, h, w, C) tensors the receiver computes outside g_s, float and integer:
        the candidates for y_hat, sigma_hat and the scale index (a tensor inside g_s
        would make the latents path run it)."""
        g_s = self.scope_pattern("synthesis")
        h_s = self.scope_pattern("hyper_synthesis")
        return sorted(
            (
                TensorInfo.of(t)
                for op in self.receiver_ops()
                if not (g_s.search(op.name) and not h_s.search(op.name))
                for t in op.outputs
                if _is_feature_map(t, integer=True)
            ),
            key=lambda i: i.name,
        )

    float_tensors = candidate_tensors  # the former name

    def all_tensors(self, signature: str = "receiver") -> list[TensorInfo]:
        """Every tensor of a signature's graph, as ``tfci tensors`` prints them."""
        fn = self.sender if signature == "sender" else self.receiver
        return sorted(
            (TensorInfo.of(t) for op in fn.graph.get_operations() for t in op.outputs),
            key=lambda i: i.name,
        )
