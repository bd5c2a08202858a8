"""Build configuration beyond setup.cfg: the optional compiled rANS decoder.

``jpegai_eval.codecs._rans`` decodes CompressAI's rANS streams from buffers (see its
source). It is optional: where no C compiler is found the package installs without it
and decodes through CompressAI's own decoder, with the same results, more slowly.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "jpegai_eval.codecs._rans",
            sources=["jpegai_eval/codecs/_rans.c"],
            optional=True,
        )
    ]
)
