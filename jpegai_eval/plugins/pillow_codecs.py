"""Built-in plugin: the conventional codecs. Pixel-domain baselines through Pillow (JPEG,
WebP and, where Pillow has OpenJPEG, JPEG 2000), qualities 1-8
(:mod:`jpegai_eval.codecs.pillow_codecs`); JPEG AI's other anchors: JPEG 4:4:4, HEVC
intra, AVIF and JPEG XL (:mod:`jpegai_eval.codecs.anchor_codecs`); and VVC intra through
``vvencapp``/``vvdecapp`` on PATH, unavailable without them (:mod:`jpegai_eval.codecs.vvc`).

Importing this module does not import Pillow.
"""

from jpegai_eval import hookimpl


@hookimpl
def register_codecs(register):
    from jpegai_eval.codecs.anchor_codecs import ANCHOR_CODECS
    from jpegai_eval.codecs.pillow_codecs import PILLOW_CODECS
    from jpegai_eval.codecs.vvc import VVC

    for codec in (*PILLOW_CODECS, *ANCHOR_CODECS, VVC):
        register(codec)
