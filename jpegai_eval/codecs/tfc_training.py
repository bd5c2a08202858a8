"""Train a small bmshj2018 scale hyperprior with TensorFlow-Compression and export it the
way TFC publishes its models: a frozen ``.metagraph`` with ``sender`` and ``receiver``
signatures that ``tfci`` (and the ``tfc`` backend) run.

These are the ``tfc`` backend's ``demo`` weights (``jpegai_eval/codecs/weights/tfc-demo/``,
see its ``MODEL_CARD.md``): the TFC counterpart of the CompressAI demo checkpoints, same
qualities and N / M, trained on the synthetic demo dataset with the same MS-SSIM λ
ladder. The architecture is TFC's ``bmshj2018`` example (``SignalConv2D`` + GDN
transforms, a ``NoisyDeepFactorized`` prior for z, a ``LocationScaleIndexedEntropyModel``
of ``NoisyNormal`` with TFC's 64-scale table for y) with a float hyper synthesis.

``python -m jpegai_eval.codecs.tfc_training --quality 1 --data DIR --out FILE.metagraph``.
TensorFlow is imported inside the functions.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

SCALE_MIN, SCALE_MAX, NUM_SCALES = 0.11, 256.0, 64
SENDER_OUTPUTS = ("0_y_strings", "1_z_strings", "2_x_shape", "3_y_shape", "4_z_shape")


class Hyperprior:
    """TFC's bmshj2018 scale hyperprior with ``n`` / ``m`` filters (float h_s)."""

    def __init__(self, n: int, m: int, seed: int = 0) -> None:
        import tensorflow as tf
        import tensorflow_compression as tfc

        tf.random.set_seed(seed)
        self.n, self.m = n, m

        def conv(
            filters: int,
            kernel: int,
            down: int = 1,
            up: int = 1,
            act: Any = None,
            corr: bool = True,
        ) -> Any:
            return tfc.SignalConv2D(
                filters,
                (kernel, kernel),
                corr=corr,
                strides_down=down,
                strides_up=up,
                padding="same_zeros",
                use_bias=True,
                activation=act,
            )

        self.analysis = [
            conv(n, 5, down=2, act=tfc.GDN()),
            conv(n, 5, down=2, act=tfc.GDN()),
            conv(n, 5, down=2, act=tfc.GDN()),
            conv(m, 5, down=2),
        ]
        self.synthesis = [
            conv(n, 5, up=2, corr=False, act=tfc.GDN(inverse=True)),
            conv(n, 5, up=2, corr=False, act=tfc.GDN(inverse=True)),
            conv(n, 5, up=2, corr=False, act=tfc.GDN(inverse=True)),
            conv(3, 5, up=2, corr=False),
        ]
        self.hyper_analysis = [
            conv(n, 3, act=tf.nn.relu),
            conv(n, 5, down=2, act=tf.nn.relu),
            conv(n, 5, down=2),
        ]
        self.hyper_synthesis = [
            conv(n, 5, up=2, corr=False, act=tf.nn.relu),
            conv(n, 5, up=2, corr=False, act=tf.nn.relu),
            conv(m, 3, corr=False),
        ]
        self.hyperprior = tfc.NoisyDeepFactorized(batch_shape=(n,))
        self.offset = math.log(SCALE_MIN)
        self.factor = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1)
        self.compression = False
        self._entropy_models(compression=False)

    def _entropy_models(self, compression: bool) -> None:
        import tensorflow as tf
        import tensorflow_compression as tfc

        self.side_entropy_model = tfc.ContinuousBatchedEntropyModel(
            self.hyperprior, coding_rank=3, compression=compression
        )
        self.entropy_model = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal,
            NUM_SCALES,
            lambda i: tf.exp(self.offset + self.factor * i),
            coding_rank=3,
            compression=compression,
        )

    @staticmethod
    def _run(layers: list[Any], x: Any, scope: str) -> Any:
        import tensorflow as tf

        with tf.name_scope(scope):
            for layer in layers:
                x = layer(x)
        return x

    def scale_indexes(self, sigma: Any) -> Any:
        import tensorflow as tf

        sigma = tf.maximum(sigma, SCALE_MIN)
        return tf.clip_by_value((tf.math.log(sigma) - self.offset) / self.factor, 0, NUM_SCALES - 1)

    def variables(self) -> list[Any]:
        layers = self.analysis + self.synthesis + self.hyper_analysis + self.hyper_synthesis
        out = [v for layer in layers for v in layer.trainable_variables]
        return out + list(self.hyperprior.trainable_variables)

    def forward(self, x: Any, training: bool = True) -> tuple[Any, Any, Any]:
        """(x_tilde, bits of y, bits of z) with additive noise (training)."""
        import tensorflow as tf

        y = self._run(self.analysis, x, "analysis")
        z = self._run(self.hyper_analysis, tf.abs(y), "hyper_analysis")
        z_tilde, z_bits = self.side_entropy_model(z, training=training)
        sigma = self._run(self.hyper_synthesis, z_tilde, "hyper_synthesis")
        y_tilde, y_bits = self.entropy_model(y, self.scale_indexes(sigma), training=training)
        x_tilde = self._run(self.synthesis, y_tilde, "synthesis")
        return x_tilde, y_bits, z_bits

    # -- the tfci signatures (after training, with compression tables) ----------------
    def sender(self, image: Any) -> dict[str, Any]:
        import tensorflow as tf

        x = tf.cast(image, tf.float32) / 255.0
        y = self._run(self.analysis, x, "analysis")
        z = self._run(self.hyper_analysis, tf.abs(y), "hyper_analysis")
        x_shape = tf.shape(x)[1:-1]
        y_shape = tf.shape(y)[1:-1]
        z_shape = tf.shape(z)[1:-1]
        with tf.name_scope("side_bottleneck"):
            z_strings = self.side_entropy_model.compress(z)
            z_hat = self.side_entropy_model.decompress(z_strings, z_shape)
        sigma = self._run(self.hyper_synthesis, z_hat, "hyper_synthesis")
        sigma = sigma[:, : y_shape[0], : y_shape[1], :]
        with tf.name_scope("bottleneck"):
            y_strings = self.entropy_model.compress(y, self.scale_indexes(sigma))
        return dict(
            zip(SENDER_OUTPUTS, (y_strings, z_strings, x_shape, y_shape, z_shape), strict=True)
        )

    def receiver(
        self, y_strings: Any, z_strings: Any, x_shape: Any, y_shape: Any, z_shape: Any
    ) -> Any:
        import tensorflow as tf

        with tf.name_scope("side_bottleneck"):
            z_hat = self.side_entropy_model.decompress(z_strings, z_shape)
        sigma = self._run(self.hyper_synthesis, z_hat, "hyper_synthesis")
        sigma = sigma[:, : y_shape[0], : y_shape[1], :]
        with tf.name_scope("bottleneck"):
            y_hat = self.entropy_model.decompress(y_strings, self.scale_indexes(sigma))
        x_hat = self._run(self.synthesis, y_hat, "synthesis")
        x_hat = x_hat[:, : x_shape[0], : x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat * 255.0), tf.uint8)


def ms_ssim(x: Any, y: Any, filter_size: int = 7) -> Any:
    """Mean MS-SSIM of two (B, H, W, 3) batches in [0, 1] (Wang et al. 2003, five scales,
    Gaussian window sigma 1.5), with each scale's term clamped at 1e-6 before its power
    so that early, poor reconstructions give finite gradients."""
    import numpy as np
    import tensorflow as tf

    weights = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
    c1, c2 = 0.01**2, 0.03**2
    g = np.exp(-((np.arange(filter_size) - (filter_size - 1) / 2) ** 2) / (2 * 1.5**2))
    g = np.outer(g, g) / np.outer(g, g).sum()
    kernel = tf.constant(np.tile(g[:, :, None, None], (1, 1, 3, 1)), tf.float32)

    def blur(t: Any) -> Any:
        return tf.nn.depthwise_conv2d(t, kernel, [1, 1, 1, 1], "VALID")

    terms = []
    for i, w in enumerate(weights):
        mx, my = blur(x), blur(y)
        sxx = blur(x * x) - mx * mx
        syy = blur(y * y) - my * my
        sxy = blur(x * y) - mx * my
        cs = tf.reduce_mean((2 * sxy + c2) / (sxx + syy + c2), axis=[1, 2, 3])
        if i == len(weights) - 1:
            luminance = (2 * mx * my + c1) / (mx * mx + my * my + c1)
            cs = tf.reduce_mean(luminance * (2 * sxy + c2) / (sxx + syy + c2), axis=[1, 2, 3])
        terms.append(tf.pow(tf.maximum(cs, 1e-6), w))
        x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
        y = tf.nn.avg_pool2d(y, 2, 2, "VALID")
    return tf.reduce_mean(tf.reduce_prod(tf.stack(terms, axis=-1), axis=-1))


def export_metagraph(model: Hyperprior, path: Path) -> bytes:
    """Freeze ``model`` with compression tables into a tfci metagraph at ``path``."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    model._entropy_models(compression=True)
    specs = [
        tf.TensorSpec((1, None, None, 3), tf.uint8, name="input_image"),
        tf.TensorSpec((1,), tf.string, name="y_strings"),
        tf.TensorSpec((1,), tf.string, name="z_strings"),
        tf.TensorSpec((2,), tf.int32, name="x_shape"),
        tf.TensorSpec((2,), tf.int32, name="y_shape"),
        tf.TensorSpec((2,), tf.int32, name="z_shape"),
    ]

    def both(
        image: Any, y_strings: Any, z_strings: Any, x_shape: Any, y_shape: Any, z_shape: Any
    ) -> list[Any]:
        sent = model.sender(image)
        received = model.receiver(y_strings, z_strings, x_shape, y_shape, z_shape)
        return [sent[k] for k in SENDER_OUTPUTS] + [received]

    model.sender(np.zeros((1, 64, 64, 3), np.uint8))  # builds every variable eagerly
    concrete = tf.compat.v1.wrap_function(both, specs)
    frozen = convert_variables_to_constants_v2(concrete)
    graph_def = frozen.graph.as_graph_def()
    input_names = [t.name for t in frozen.inputs]
    output_names = [t.name for t in frozen.outputs]
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(graph_def, name="")
        metagraph = tf.compat.v1.train.export_meta_graph(graph=graph)

    def info(name: str) -> meta_graph_pb2.TensorInfo:
        tensor = graph.get_tensor_by_name(name)
        return meta_graph_pb2.TensorInfo(
            name=tensor.name,
            dtype=tensor.dtype.as_datatype_enum,
            tensor_shape=tensor.shape.as_proto(),
        )

    sender = metagraph.signature_def["sender"]
    sender.inputs["input_image"].CopyFrom(info(input_names[0]))
    for key, name in zip(SENDER_OUTPUTS, output_names[:5], strict=True):
        sender.outputs[key].CopyFrom(info(name))
    receiver = metagraph.signature_def["receiver"]
    for key, name in zip(SENDER_OUTPUTS, input_names[1:], strict=True):
        receiver.inputs[key].CopyFrom(info(name))
    receiver.outputs["output_image"].CopyFrom(info(output_names[5]))
    metagraph.ClearField("collection_def")
    data = metagraph.SerializeToString()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    tmp.write_bytes(data)
    tmp.replace(path)
    return data


def train(
    quality: int,
    data: Path,
    out: Path,
    steps: int,
    lmbda: float,
    n: int,
    m: int,
    patch: int = 128,
    batch: int = 8,
    lr: float = 1e-4,
    seed: int = 0,
) -> dict[str, Any]:
    """Train for ``steps`` on random crops of the images under ``data``; export to
    ``out``; return what the model card records."""
    import numpy as np
    import tensorflow as tf

    from jpegai_eval.codecs.training import dataset_images
    from jpegai_eval.framework.io.image_io import read_image

    rng = np.random.RandomState(seed)
    images = [read_image(p) for p in dataset_images(Path(data), "train")]
    model = Hyperprior(n, m, seed)
    optimizer = tf.keras.optimizers.Adam(learning_rate=lr)

    def crops() -> np.ndarray:
        out_ = []
        for i in rng.randint(len(images), size=batch):
            img = images[i]
            h, w = img.shape[:2]
            top, left = rng.randint(h - patch + 1), rng.randint(w - patch + 1)
            crop = img[top : top + patch, left : left + patch]
            out_.append(crop[:, ::-1] if rng.rand() < 0.5 else crop)
        return np.stack(out_).astype(np.float32) / 255.0

    model.forward(tf.zeros((1, patch, patch, 3)))  # build
    variables = model.variables()

    @tf.function
    def step(x: Any) -> Any:
        with tf.GradientTape() as tape:
            x_tilde, y_bits, z_bits = model.forward(x)
            pixels = tf.cast(tf.reduce_prod(tf.shape(x)[:-1]), tf.float32)
            bpp = (tf.reduce_sum(y_bits) + tf.reduce_sum(z_bits)) / pixels
            msssim = ms_ssim(x, x_tilde)
            loss = lmbda * (1 - msssim) + bpp
        grads = tape.gradient(loss, variables)
        grads, _ = tf.clip_by_global_norm(grads, 1.0)
        optimizer.apply_gradients(zip(grads, variables, strict=True))
        return loss, bpp, msssim

    started = time.time()
    log = []
    for i in range(1, steps + 1):
        loss, bpp, msssim = step(tf.constant(crops()))
        if i % 100 == 0 or i == steps or i <= 3 or (i < 100 and i % 20 == 0):
            log.append((i, float(loss), float(bpp), float(msssim)))
            print(
                f"q{quality} step {i}: loss {loss:.4f} bpp {bpp:.4f} ms-ssim {msssim:.4f}",
                flush=True,
            )
    seconds = time.time() - started
    export_metagraph(model, Path(out))
    return {
        "quality": quality,
        "N": n,
        "M": m,
        "steps": steps,
        "lmbda": lmbda,
        "train_seconds": round(seconds, 1),
        "log": log,
    }


def main() -> None:  # pragma: no cover - the command that made the demo weights
    import argparse

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quality", type=int, required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--lmbda", type=float, required=True)
    parser.add_argument("--n", type=int, required=True)
    parser.add_argument("--m", type=int, required=True)
    parser.add_argument("--patch", type=int, default=128)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--lr", type=float, default=1e-4)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    record = train(
        args.quality,
        Path(args.data),
        Path(args.out),
        args.steps,
        args.lmbda,
        args.n,
        args.m,
        args.patch,
        args.batch,
        args.lr,
        args.seed,
    )
    Path(args.out).with_suffix(".json").write_text(json.dumps(record, indent=1))


if __name__ == "__main__":  # pragma: no cover
    main()
