"""The plugin module named by the entry point: one @hookimpl per thing it adds."""

from jpegai_eval import hookimpl


@hookimpl
def register_codecs(register):
    from jpegai_eval_example_codec.codec import DownsamplePngCodec

    register(DownsamplePngCodec())
