"""Rate points: every codec compared at the same target rates (``run --target-bpp``).

JPEG AI compares codecs at fixed target rates rather than at each codec's own
quality steps. With ``--target-bpp 0.25,1.0`` every codec of the run is wrapped in a
:class:`TargetRateCodec` whose "qualities" are the targets (1 = the first target):

- a codec with a continuous rate parameter (:attr:`Codec.parameter`: libjpeg's,
  x265's, libaom's or libjxl's quality, OpenJPEG's compression ratio) is searched per
  image on that parameter by bracketing: bisection, alternating with interpolation of
  log(rate) between the bracket's ends (at most :data:`MAX_STEPS` encodes, typically
  3-5; every size tried is kept, so no value is encoded twice);
- a codec with discrete qualities only (a learned codec) is searched the same way
  over its quality ladder (its rate rises with quality).

**The rule.** Of the files tried, the one whose rate is closest to the target (in
ratio, ``|log(bpp / target)|``) is kept, and the search stops early once a file lands
within :data:`STOP_WITHIN` of it. JPEG AI's common test conditions let a codec's rate
land within a tolerance of each target rather than below it; taking the closest rate
centres every cell's mean achieved rate on its target, where "largest rate not above
the target" would bias every conventional anchor low by up to one step (libjpeg's
quality steps are 3-10 % of rate) and give learned codecs with coarse ladders a
systematic handicap. Each image records its achieved bpp, the parameter or quality
taken and whether it lies within :data:`TOLERANCE` (±10 %) of the target;
``results.csv`` gives the mean achieved bpp and that share per cell.

The search result is an encode-cache entry like any other (the cache folder is keyed
by the target and the codec's settings), so a rerun searches nothing again.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from jpegai_eval.framework.api.types import (
    Codec,
    CodecModel,
    Decoded,
    check_image,
    check_size,
    digest,
)
from jpegai_eval.framework.errors import BitstreamError, UsageError
from jpegai_eval.framework.io.json_types import Scalar

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from jpegai_eval.framework.api.bitstream import Header
    from jpegai_eval.framework.io.remote import RemoteFile
    from jpegai_eval.framework.run.records import ResultRow

#: A file within this share of its target counts as on target (JPEG AI's ±10 %).
TOLERANCE = 0.10
#: The search stops as soon as a file lands this close to its target.
STOP_WITHIN = 0.02
#: The most encodes one image's search may cost (bisection over a parameter range).
MAX_STEPS = 12
#: Targets are rates in bits per pixel; this is the range accepted.
TARGET_RANGE = (0.001, 24.0)
RULE = (
    f"closest rate to the target (|log(bpp/target)|), safeguarded log-rate interpolation "
    f"and bisection of at most {MAX_STEPS} "
    f"encodes, stopping within {100 * STOP_WITHIN:g}%; on target = within "
    f"+/-{100 * TOLERANCE:g}%"
)


@dataclass(frozen=True)
class RateChoice:
    """What the search took for one image at one target: the achieved rate, the
    parameter value (continuous codecs) or quality (discrete ones), the encodes it
    cost and whether the rate lies within :data:`TOLERANCE` of the target."""

    target_bpp: float
    bpp: float
    parameter: float | None
    chosen_quality: int | None
    search_steps: int
    within_tolerance: bool

    def meta(self) -> dict[str, Scalar]:
        """The per-image columns of a cache entry and ``per_image.csv``."""
        return asdict(self)


def parse_targets(text: str | None) -> list[float] | None:
    """``--target-bpp 0.06,0.12,...`` as a sorted list of distinct rates."""
    if text is None:
        return None
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise UsageError(
            f"--target-bpp takes comma-separated rates in bits per pixel such as "
            f"0.25,0.5,1.0; got {text!r}."
        ) from None
    low, high = TARGET_RANGE
    bad = [v for v in values if not (math.isfinite(v) and low <= v <= high)]
    if not values or bad:
        raise UsageError(
            f"--target-bpp needs rates from {low:g} to {high:g} bits per pixel (JPEG AI's "
            f"are 0.06 to 2.0); got {text!r}."
        )
    return sorted(set(values))


def within(bpp: float, target: float) -> bool:
    return abs(bpp / target - 1.0) <= TOLERANCE + 1e-12


def _distance(bpp: float, target: float) -> float:
    return abs(math.log(max(bpp, 1e-12) / target))


def search(
    encode: Callable[[float], bytes],
    pixels: int,
    target_bpp: float,
    low: float,
    high: float,
    *,
    integer: bool,
    increases_rate: bool,
) -> tuple[float, bytes, int]:
    """Search ``low..high`` for the value whose file's rate (``8 * len / pixels``) is
    closest to ``target_bpp``; return (value, file, encodes). The rate must be
    monotone in the value (rising when ``increases_rate``).

    A safeguarded bracketing search: once both ends of the bracket have a rate, the
    next value interpolates log(rate) linearly between them (3-5 encodes for a codec's
    smooth rate curve); every other step bisects, so a curve that interpolation
    fits badly still converges as bisection does. Nothing is encoded twice."""
    tried: dict[float, bytes] = {}
    sign = 1.0 if increases_rate else -1.0  # u = sign * value rises with the rate

    def rate(value: float) -> float:
        if value not in tried:
            tried[value] = encode(value)
        return 8.0 * len(tried[value]) / pixels

    def best() -> float:
        return min(tried, key=lambda v: (_distance(8.0 * len(tried[v]) / pixels, target_bpp), v))

    lo, hi = sorted((sign * low, sign * high))  # in u; the rate rises from lo to hi
    step = 0
    while len(tried) < MAX_STEPS:
        value = _next_value(lo, hi, sign, tried, pixels, target_bpp, integer, step)
        if value is None:
            break
        step += 1
        r = rate(value)
        if abs(r / target_bpp - 1.0) <= STOP_WITHIN:
            break
        if r < target_bpp:  # below the target: towards more bits
            lo = sign * value
        else:
            hi = sign * value
    chosen = best()
    # a target beyond the reachable range ends the search next to an end; try that end
    if not within(8.0 * len(tried[chosen]) / pixels, target_bpp):
        for end in (low, high):
            if end not in tried and len(tried) < MAX_STEPS + 2:
                rate(end)
        chosen = best()
    return chosen, tried[chosen], len(tried)


def _next_value(
    lo: float,
    hi: float,
    sign: float,
    tried: dict[float, bytes],
    pixels: int,
    target: float,
    integer: bool,
    step: int,
) -> float | None:
    """The next value to encode inside the bracket ``lo..hi`` (in rising-rate units),
    or None when the bracket holds no untried value."""
    if integer:
        inside = [u for u in (math.ceil(lo), math.floor(hi)) if sign * u not in tried]
        if math.floor(hi) - math.ceil(lo) <= 1:  # at most the two ends are left
            return sign * inside[0] if inside and step < MAX_STEPS else None
    ends = [sign * lo in tried, sign * hi in tried]
    u = (lo + hi) / 2
    if all(ends) and step % 2 == 1:  # interpolate log(rate) between the bracket's ends
        r_lo = math.log(8.0 * len(tried[sign * lo]) / pixels)
        r_hi = math.log(8.0 * len(tried[sign * hi]) / pixels)
        if r_hi > r_lo:
            u = lo + (math.log(target) - r_lo) / (r_hi - r_lo) * (hi - lo)
    if integer:
        u = float(min(max(round(u), math.ceil(lo) + 1), math.floor(hi) - 1))
        if sign * u in tried:
            u = float(math.floor((lo + hi) / 2))
    elif not lo < u < hi:
        u = (lo + hi) / 2
    return sign * u if sign * u not in tried else None


class TargetRateCodec(Codec):
    """``codec`` at the run's target rates: quality ``i`` is the ``i``-th target.

    Its files are the wrapped codec's own (a rate-controlled file with quality 0 for a
    continuous parameter, the chosen quality's file for a discrete ladder), so
    ``jpegai-eval codec decode`` reads them as any other file of that codec."""

    def __init__(self, codec: Codec, targets: list[float] | tuple[float, ...]) -> None:
        self.inner = codec
        self.targets = tuple(float(t) for t in targets)
        self.id = codec.id
        self.backend = codec.backend
        self.qualities = tuple(range(1, len(self.targets) + 1))
        self.has_compressed_domain = codec.has_compressed_domain
        self.max_pixels = codec.max_pixels
        self.parameter = codec.parameter

    @property
    def description(self) -> str:  # type: ignore[override]
        return self.inner.description

    @property
    def unavailable_reason(self) -> str | None:  # type: ignore[override]
        return self.inner.unavailable_reason

    def target_for(self, quality: int) -> float:
        """The target rate of "quality" ``quality`` (its index, from 1)."""
        return self.targets[self.check_quality(quality) - 1]

    def point_label(self, quality: int) -> str:
        return f"{self.target_for(quality):g}bpp"

    def latent_spec(self, quality: int, weights: str | None = None) -> Any:
        specs = {repr(self.inner.latent_spec(q, weights)) for q in self.inner.qualities}
        if len(specs) > 1:
            return None
        return self.inner.latent_spec(self.inner.qualities[0], weights)

    def remote_files(
        self, quality: int, weights: str | None = None, weights_dir: str | None = None
    ) -> list[RemoteFile]:
        if self.inner.parameter is not None:
            return []
        files: list[RemoteFile] = []
        for q in self.inner.qualities:
            files += self.inner.remote_files(q, weights, weights_dir)
        return files

    def load(
        self,
        quality: int,
        weights: str | None = None,
        device: str = "cpu",
        weights_dir: str | os.PathLike[str] | None = None,
    ) -> CodecModel:
        target = self.target_for(quality)
        self.check_available()
        return TargetRateModel(self, quality, target, weights, device, weights_dir)


class TargetRateModel(CodecModel):
    """Encodes each image at the file closest to one target rate (:func:`search`);
    decodes with the wrapped codec's model named by the file's header. After each
    :meth:`encode`, :attr:`last_choice` says what was taken."""

    codec: TargetRateCodec

    def __init__(
        self,
        codec: TargetRateCodec,
        quality: int,
        target: float,
        weights: str | None,
        device: str,
        weights_dir: str | os.PathLike[str] | None,
    ) -> None:
        inner = codec.inner
        self.target = target
        self.last_choice: RateChoice | None = None
        self._load = (weights, device, weights_dir)
        if inner.parameter is not None:
            self.decoder = inner.load_parameter(None, weights, device, weights_dir)
            self.models: dict[int, CodecModel] = {}
            ids = repr(inner.parameter).encode()
        else:
            self.models = {q: inner.load(q, weights, device, weights_dir) for q in inner.qualities}
            ids = b"".join(m.weights_id for m in self.models.values())
            specs = {repr(m.latent_spec) for m in self.models.values()}
            if inner.has_compressed_domain and len(specs) > 1:
                raise UsageError(
                    f"Codec {inner.key}'s qualities have latents of different shapes "
                    f"({', '.join(sorted(specs))}), so choosing a quality per image for a "
                    "target rate would mix them in one compressed-domain classifier. Run "
                    "it with --qualities, or with --anchors anchor1,anchor2,anchor3."
                )
            self.latent_spec = next(iter(self.models.values())).latent_spec
        key = f"target={target!r};{RULE};".encode() + ids + (inner.description or "").encode()
        super().__init__(codec, quality, digest(key))

    # -- encode ------------------------------------------------------------------------
    def encode(self, image: NDArray[Any]) -> bytes:
        check_image(image)
        check_size(image, self.codec.inner)
        height, width = int(image.shape[0]), int(image.shape[1])
        inner = self.codec.inner
        p = inner.parameter
        if p is not None:
            weights, device, weights_dir = self._load

            def encode_at(value: float) -> bytes:
                return inner.load_parameter(value, weights, device, weights_dir).encode(image)

            value, data, steps = search(
                encode_at,
                height * width,
                self.target,
                p.low,
                p.high,
                integer=p.integer,
                increases_rate=p.increases_rate,
            )
            parameter, quality = p.clamp(value), None
        else:
            ladder = list(inner.qualities)

            def encode_index(index: float) -> bytes:
                return self.models[ladder[int(index)]].encode(image)

            index, data, steps = search(
                encode_index,
                height * width,
                self.target,
                0,
                len(ladder) - 1,
                integer=True,
                increases_rate=True,
            )
            parameter, quality = None, ladder[int(index)]
        bpp = 8.0 * len(data) / (height * width)
        self.last_choice = RateChoice(
            self.target, bpp, parameter, quality, steps, within(bpp, self.target)
        )
        return data

    def _encode_payload(self, image: NDArray[Any]) -> tuple[bytes, tuple[int, ...]]:
        raise NotImplementedError("TargetRateModel.encode writes the wrapped codec's file")

    # -- decode: the wrapped codec's model for the file ---------------------------------
    def _model_for(self, header: Header) -> CodecModel:
        if self.codec.inner.parameter is not None:
            return self.decoder
        return self.models[header.quality]

    def open(self, data: bytes) -> tuple[Header, bytes]:
        from jpegai_eval.framework.api.bitstream import unpack

        header, payload = unpack(data)
        inner = self.codec.inner
        expected = 0 if inner.parameter is not None else None
        ok = (header.codec, header.backend) == (inner.id, inner.backend) and (
            header.quality == expected if expected is not None else header.quality in self.models
        )
        if not ok:
            raise BitstreamError(
                f"This .jai file was made by {header.codec}/{header.backend} at quality "
                f"{header.quality}, not by {inner.key} searched to a target rate. Decode it "
                "with the codec named in its header (`jpegai-eval codec info FILE`)."
            )
        self._model_for(header).open(data)  # the wrapped model's own checks (weights)
        return header, payload

    def _decode_payload(self, payload: bytes, header: Header) -> NDArray[Any]:
        return self._model_for(header)._decode_payload(payload, header)

    def _latents_payload(self, payload: bytes, header: Header) -> dict[str, NDArray[Any]]:
        return self._model_for(header)._latents_payload(payload, header)

    def _decode_stages(
        self, payload: bytes, header: Header, *, image: bool, latents: bool
    ) -> Decoded:
        model = self._model_for(header)
        return model._decode_stages(payload, header, image=image, latents=latents)


def rate_summary(rows: Sequence[ResultRow]) -> str:
    """Per codec x target: the mean achieved bpp and the share of test images within
    ±10 % of the target (the run's closing summary)."""
    seen: dict[tuple[str, str, float], ResultRow] = {}
    for r in rows:
        target = r.target_bpp
        if target is None or (isinstance(target, float) and math.isnan(target)):
            continue
        seen.setdefault((r.codec, r.backend, float(target)), r)
    if not seen:
        return ""
    lines = [f"Rate points (rule: {RULE}):"]
    for (codec, backend, target), r in seen.items():
        share = r.bpp_within_10pct
        within_text = "no test image" if share is None else f"{100 * share:.0f}% of test images"
        lines.append(
            f"  {codec}/{backend} at {target:g} bpp: mean {r.bpp or 0.0:.4f} bpp, "
            f"{within_text} within +/-10%"
        )
    return "\n".join(lines)
