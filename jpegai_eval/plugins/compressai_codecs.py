"""Built-in plugin: the bmshj2018 scale hyperprior through CompressAI, for MS-SSIM and
MSE, qualities 1-8 (:mod:`jpegai_eval.codecs.compressai_hyperprior`).

Importing this module imports neither torch nor CompressAI: the codec classes load
them only when a model is built.
"""

from jpegai_eval import hookimpl


@hookimpl
def register_codecs(register):
    from jpegai_eval.codecs.compressai_hyperprior import CompressAIHyperprior

    register(CompressAIHyperprior("ms-ssim"))
    register(CompressAIHyperprior("mse"))
