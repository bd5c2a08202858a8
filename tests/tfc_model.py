"""A tiny TFC hyperprior exported as a tfci-style metagraph, for the TFC backend tests.

The published ``bmshj2018-hyperprior-*.metagraph`` files are frozen TF1 graphs (weights
as constants) holding two signatures: ``sender`` (a ``(1, H, W, 3)`` uint8 image in, the
entropy-coded strings and the shapes the receiver needs out) and ``receiver`` (those
tensors in, the reconstruction out). tfci feeds and fetches them in the sorted order of
their signature keys. This module builds the same thing from tensorflow-compression 2.x
layers -- ``SignalConv2D``/``GDN`` transforms, a ``ContinuousBatchedEntropyModel`` for z
and a ``LocationScaleIndexedEntropyModel`` for y whose scale comes from the hyper
synthesis output sigma, as in Balle et al. 2018 -- with random weights and N = M = 8, so
it builds and exports in seconds::

    x -> analysis (g_a) -> y -> hyper_analysis (h_a) -> z -> [side model] -> z_hat
    z_hat -> hyper_synthesis (h_s) -> sigma_hat -> [indexed model] -> y_hat
    y_hat -> synthesis (g_s) -> x_hat

Only the tests import this (it needs TensorFlow). ``build_metagraph`` writes the file
and returns the reference tensors the tests compare against.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_SCALES = 64
SCALE_MIN = 0.11
SCALE_MAX = 256.0


def _scale_fn_parts():
    import math

    offset = math.log(SCALE_MIN)
    factor = (math.log(SCALE_MAX) - math.log(SCALE_MIN)) / (NUM_SCALES - 1)
    return offset, factor


class TinyHyperprior:
    """Balle et al. 2018's scale hyperprior, shrunk to ``n`` filters (random weights)."""

    def __init__(self, n: int = 8, seed: int = 0) -> None:
        import tensorflow as tf
        import tensorflow_compression as tfc

        tf.random.set_seed(seed)
        self.n = n

        def conv(filters, kernel, down=1, up=1, act=None, corr=True):
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
            conv(n, 5, down=2),
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
            conv(n, 3, corr=False),
        ]
        offset, factor = _scale_fn_parts()
        self.side_entropy_model = tfc.ContinuousBatchedEntropyModel(
            tfc.NoisyDeepFactorized(batch_shape=(n,)), coding_rank=3, compression=True
        )
        self.entropy_model = tfc.LocationScaleIndexedEntropyModel(
            tfc.NoisyNormal,
            NUM_SCALES,
            lambda i: tf.exp(offset + factor * i),
            coding_rank=3,
            compression=True,
        )

    @staticmethod
    def _run(layers, x, scope):
        import tensorflow as tf

        with tf.name_scope(scope):
            for layer in layers:
                x = layer(x)
        return x

    @staticmethod
    def scale_indexes(sigma):
        """The index into the scale table for each sigma (as tfc.GaussianConditional)."""
        import tensorflow as tf

        offset, factor = _scale_fn_parts()
        sigma = tf.maximum(sigma, SCALE_MIN)
        return tf.clip_by_value(tf.round((tf.math.log(sigma) - offset) / factor), 0, NUM_SCALES - 1)

    def sender(self, image):
        import tensorflow as tf

        x = tf.cast(image, tf.float32)
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
        return {
            "0_y_strings": y_strings,
            "1_z_strings": z_strings,
            "2_x_shape": x_shape,
            "3_y_shape": y_shape,
            "4_z_shape": z_shape,
        }

    def receiver(self, y_strings, z_strings, x_shape, y_shape, z_shape):
        import tensorflow as tf

        with tf.name_scope("side_bottleneck"):
            z_hat = self.side_entropy_model.decompress(z_strings, z_shape)
        sigma = self._run(self.hyper_synthesis, z_hat, "hyper_synthesis")
        sigma = sigma[:, : y_shape[0], : y_shape[1], :]
        with tf.name_scope("bottleneck"):
            y_hat = self.entropy_model.decompress(y_strings, self.scale_indexes(sigma))
        x_hat = self._run(self.synthesis, y_hat, "synthesis")
        x_hat = x_hat[:, : x_shape[0], : x_shape[1], :]
        return tf.saturate_cast(tf.round(x_hat), tf.uint8)

    def reference(self, image: np.ndarray) -> dict[str, np.ndarray]:
        """Eager y_hat (rounded y) and sigma_hat, (1, h, w, C), for one (H, W, 3) image."""
        import tensorflow as tf

        x = tf.cast(image[None], tf.float32)
        y = self._run(self.analysis, x, "analysis")
        z = self._run(self.hyper_analysis, tf.abs(y), "hyper_analysis")
        z_hat = self.side_entropy_model.quantize(z)
        sigma = self._run(self.hyper_synthesis, z_hat, "hyper_synthesis")
        sigma = sigma[:, : y.shape[1], : y.shape[2], :]
        return {"y_hat": tf.round(y).numpy(), "sigma_hat": sigma.numpy()}


SENDER_OUTPUTS = ("0_y_strings", "1_z_strings", "2_x_shape", "3_y_shape", "4_z_shape")


def build_metagraph(path: Path, n: int = 8, seed: int = 0) -> TinyHyperprior:
    """Write a frozen tfci-style metagraph of a fresh :class:`TinyHyperprior` to ``path``."""
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    model = TinyHyperprior(n=n, seed=seed)
    specs = [
        tf.TensorSpec((1, None, None, 3), tf.uint8, name="input_image"),
        tf.TensorSpec((1,), tf.string, name="y_strings"),
        tf.TensorSpec((1,), tf.string, name="z_strings"),
        tf.TensorSpec((2,), tf.int32, name="x_shape"),
        tf.TensorSpec((2,), tf.int32, name="y_shape"),
        tf.TensorSpec((2,), tf.int32, name="z_shape"),
    ]

    # One function computes both signatures from separate inputs, so the frozen graph
    # holds sender and receiver side by side, as a published metagraph does.
    def both(image, y_strings, z_strings, x_shape, y_shape, z_shape):
        sent = model.sender(image)
        received = model.receiver(y_strings, z_strings, x_shape, y_shape, z_shape)
        return [sent[k] for k in SENDER_OUTPUTS] + [received]

    # wrap_function (TF1 graph semantics) adds no automatic control dependencies, so
    # the sender and receiver subgraphs stay independent and each prunes on its own.
    model.reference(np.zeros((64, 64, 3), np.uint8))  # create the variables eagerly
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

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(metagraph.SerializeToString())
    return model
