"""Built-in plugin: the CompressAI codecs. The bmshj2018 scale hyperprior as
``hyperprior-msssim`` / ``hyperprior-mse`` (qualities 1-8, demo weights;
:mod:`jpegai_eval.codecs.compressai_hyperprior`), then CompressAI's image zoo, six
families for both metrics (``<family>-msssim``, alias ``<family>``, and
``<family>-mse``; :mod:`jpegai_eval.codecs.compressai_zoo`).

Importing this module imports neither torch nor CompressAI: the codec classes load
them only when a model is built.
"""

from jpegai_eval import hookimpl


@hookimpl
def register_codecs(register):
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior
    from jpegai_eval.codecs.compressai_zoo import zoo_codecs

    register(CompressAIHyperprior("ms-ssim"))
    register(CompressAIHyperprior("mse"))
    for codec in zoo_codecs():
        register(codec)
