"""Built-in plugin: conventional pixel-domain baselines through Pillow (JPEG, WebP and,
where Pillow has OpenJPEG, JPEG 2000), qualities 1-8 (:mod:`jpegai_eval.codecs.pillow_codecs`),
and JPEG AI's other conventional anchors: JPEG 4:4:4, HEVC intra, AVIF and JPEG XL
(:mod:`jpegai_eval.codecs.anchor_codecs`).

Importing this module does not import Pillow.
"""

from jpegai_eval import hookimpl


@hookimpl
def register_codecs(register):
    from jpegai_eval.codecs.anchor_codecs import ANCHOR_CODECS
    from jpegai_eval.codecs.pillow_codecs import PILLOW_CODECS

    for codec in (*PILLOW_CODECS, *ANCHOR_CODECS):
        register(codec)
