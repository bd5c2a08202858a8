"""jpegai-eval: evaluate learned image compression for machines, JPEG-AI style.

Plugins implement the hooks in :mod:`jpegai_eval.framework.hookspecs` with::

    from jpegai_eval import hookimpl

    @hookimpl
    def register_codecs(register):
        register(MyCodec())
"""

from jpegai_eval.framework.hookspecs import hookimpl

__version__ = "0.1.0"

__all__ = ["__version__", "hookimpl"]
