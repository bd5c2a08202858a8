"""A tiny graph shaped like TFC's *published* ``bmshj2018-hyperprior`` metagraphs.

The published models differ from :mod:`tests.tfc_model` (a TFC 2.x export) where it
matters to the ``tfc`` backend: their hyper synthesis is an **integer network**
(``q_re_lu`` activations, int32 ``BiasAdd``, uint8 between layers) whose int32 output,
cropped to y's size (``GridAlign/strided_slice``), indexes the rows of a 64-row CDF table
(``entropy_model/entropy_model/pmf_to_cdf/stack...``) with which the receiver range-decodes
y inside a v1 ``while`` loop (``UnboundedIndexRangeDecode``); y_hat is the decoded symbols
cast to float (``entropy_model/entropy_model_3/Cast:0``, unknown static shape). Sender and
receiver share one graph: the receiver's inputs are the sender's output tensors, as in
tfci's metagraphs. See ``../shared/reference/tfci-tensors/`` for the real listings.

This builds that graph with the same scope and tensor names, dtypes and ranks for every
tensor the backend touches, random frozen weights and small channel counts (N = M = 8),
TFC 2.14's ``pmf_to_quantized_cdf`` for the tables and the legacy
``UnboundedIndexRangeEncode``/``Decode`` ops (still registered in TFC 2.14) for coding.
Only the tests import it (it needs TensorFlow).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

NUM_SCALES = 64
SCALE_MIN, SCALE_MAX = 0.11, 256.0
TAIL_MASS = 2.0**-8
PRECISION = 16
SENDER_OUTPUTS = ("0_y_strings", "1_z_strings", "2_x_shape", "3_y_shape", "4_z_shape")

#: The names the backend is expected to find (as in the published listings).
Y_HAT = "entropy_model/entropy_model_3/Cast:0"
INDEX = "GridAlign/strided_slice:0"
CDF = "entropy_model/entropy_model/pmf_to_cdf/stack/_14__cf__446:0"
CDF_OFFSET = "entropy_model/entropy_model/Const_12:0"
CDF_LENGTH = "entropy_model/entropy_model_3/decompress/while/UnboundedIndexRangeDecode/cdf_size:0"
INPUT = "input_image:0"
OUTPUT = "GridAlign_1/strided_slice:0"


def scale_table() -> np.ndarray:
    return np.exp(np.linspace(np.log(SCALE_MIN), np.log(SCALE_MAX), NUM_SCALES))


def gaussian_cdf_table(scales: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cdf, cdf_length, offset): one quantised CDF row per scale of a discretised
    zero-mean Gaussian, laid out as TFC's tables are (support +-ceil(scale * q) where q
    is the Gaussian's quantile at tail_mass / 2, then an overflow bin; 16-bit precision,
    rows padded to the longest)."""
    import tensorflow as tf
    import tensorflow_compression as tfc
    from scipy.special import ndtr, ndtri

    multiplier = -ndtri(TAIL_MASS / 2)
    centre = np.ceil(scales * multiplier).astype(int)
    pmf_length = 2 * centre + 1
    width = int(pmf_length.max()) + 2
    rows = []
    for scale, c, n in zip(scales, centre, pmf_length, strict=True):
        k = np.arange(n) - c
        pmf = ndtr((k + 0.5) / scale) - ndtr((k - 0.5) / scale)
        tail = 2 * ndtr((-c - 0.5) / scale)
        probs = tf.constant(np.append(pmf, tail), tf.float32)
        row = tfc.ops.pmf_to_quantized_cdf(probs, precision=PRECISION).numpy()
        rows.append(np.pad(row, (0, width - len(row)), constant_values=row[-1]))
    return (
        np.stack(rows).astype(np.int32),
        (pmf_length + 2).astype(np.int32),
        (-centre).astype(np.int32),
    )


def _side_table(channels: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A per-channel table for z (discretised Gaussians of scale 2..5)."""
    scales = np.linspace(2.0, 5.0, channels)
    return gaussian_cdf_table(scales)


def build(n: int = 8, m: int = 8, seed: int = 0):  # type: ignore[no-untyped-def]
    """The graph, its signatures' tensors and its tables: ``(graph, sender, receiver,
    info)`` where sender/receiver map signature keys to tensors."""
    import tensorflow as tf
    from tensorflow.python.ops import control_flow_util
    from tensorflow_compression.python.ops import gen_ops

    rng = np.random.RandomState(seed)
    cdf, cdf_length, cdf_offset = gaussian_cdf_table(scale_table())
    side_cdf, side_length, side_offset = _side_table(n, seed)

    def const(value, dtype, name=None):  # type: ignore[no-untyped-def]
        return tf.constant(np.asarray(value), dtype=dtype, name=name)

    def conv(x, cin, cout, k, stride, name, relu=False, scale=1.0):  # type: ignore[no-untyped-def]
        with tf.name_scope(name):
            kernel = const(rng.randn(k, k, cin, cout) * scale / np.sqrt(k * k * cin), tf.float32)
            x = tf.nn.conv2d(x, kernel, strides=stride, padding="SAME")
            x = tf.nn.bias_add(x, const(rng.randn(cout) * 0.1, tf.float32))
            return tf.nn.relu(x) if relu else x

    def up(x, cin, cout, k, stride, name, relu=False):  # type: ignore[no-untyped-def]
        with tf.name_scope(name):
            kernel = const(rng.randn(k, k, cout, cin) / np.sqrt(k * k * cin), tf.float32)
            x = tf.ensure_shape(x, (None, None, None, cin))
            shape = tf.shape(x)
            out = tf.stack([shape[0], shape[1] * stride, shape[2] * stride, cout])
            x = tf.nn.conv2d_transpose(x, kernel, out, strides=stride, padding="SAME")
            x = tf.nn.bias_add(x, const(rng.randn(cout) * 0.1, tf.float32))
            return tf.nn.relu(x) if relu else x

    def int_layer(x, cin, cout, k, stride, name, relu_name, top, divisor, bias):  # type: ignore[no-untyped-def]
        """An integer layer: integer kernel and bias, a quantised ReLU (rounding division
        by ``divisor``) clipped to ``top``."""
        with tf.name_scope(name):
            x = tf.pad(x, [[0, 0], [0, 0], [0, 0], [0, 0]], name="Pad")
            x = tf.cast(x, tf.float32, name="Cast")
            kernel = rng.randint(-3, 4, (k, k, cout, cin) if stride > 1 else (k, k, cin, cout))
            if stride > 1:
                shape = tf.shape(x)
                out = tf.stack([shape[0], shape[1] * stride, shape[2] * stride, cout])
                x = tf.nn.conv2d_transpose(
                    x, const(kernel, tf.float32), out, strides=stride, padding="SAME"
                )
            else:
                x = tf.nn.conv2d(
                    x, const(kernel, tf.float32), strides=1, padding="SAME", name="convolution"
                )
            x = tf.cast(tf.round(x, name="Round_2"), tf.int32, name="Cast_1")
            bias = const(rng.randint(bias, bias + 40, cout), tf.int32, name="Cast_2")
            x = tf.nn.bias_add(x, bias, name="BiasAdd")
            with tf.name_scope(relu_name):
                x = tf.math.add(x, divisor // 2, name="add")
                x = tf.truncatediv(x, const(divisor, tf.int32), name="TruncateDiv")
                x = tf.clip_by_value(x, 0, top, name="clip_by_value")
                if top == 255:
                    x = tf.cast(x, tf.uint8, name="Cast_1")
            return x

    graph = tf.Graph()
    previous = control_flow_util.ENABLE_CONTROL_FLOW_V2
    control_flow_util.ENABLE_CONTROL_FLOW_V2 = False  # tfci's graphs use v1 while loops
    try:
        with graph.as_default():
            image = tf.compat.v1.placeholder(tf.uint8, (None, None, None, 3), name="input_image")
            with tf.name_scope("analysis"):
                x = tf.cast(image, tf.float32) / 255.0
                x = conv(x, 3, n, 5, 2, "layer_0", relu=True, scale=4.0)
                x = conv(x, n, n, 5, 2, "layer_1", relu=True, scale=2.0)
                x = conv(x, n, n, 5, 2, "layer_2", relu=True, scale=2.0)
                y = conv(x, n, m, 5, 2, "layer_3", scale=8.0)
            z = tf.abs(y, name="Abs")
            with tf.name_scope("hyper_analysis"):
                z = conv(z, m, n, 3, 1, "layer_0", relu=True)
                z = conv(z, n, n, 5, 2, "layer_1", relu=True)
                z = conv(z, n, n, 5, 2, "layer_2", scale=4.0)
            x_shape = tf.shape(image)[1:-1]
            y_shape = tf.shape(y)[1:-1]
            z_shape = tf.shape(z)[1:-1]

            # Side information: z coded per channel with its own CDF row.
            with tf.name_scope("side_entropy_model"):
                with tf.name_scope("side_entropy_model"):
                    s_cdf = const(side_cdf, tf.int32, name="stack")
                    s_offset = const(side_offset, tf.int32, name="Neg")
                with tf.name_scope("side_entropy_model_2"):
                    z_sym = tf.cast(tf.floor(z + 0.5), tf.int32, name="Cast")
                    z_index = tf.zeros_like(z_sym) + tf.range(n)
                    z_strings = tf.compat.v1.map_fn(
                        lambda a: gen_ops.unbounded_index_range_encode(
                            a[0],
                            a[1],
                            s_cdf,
                            side_length,
                            s_offset,
                            precision=PRECISION,
                            overflow_width=4,
                            debug_level=0,
                        ),
                        (z_sym, z_index),
                        dtype=tf.string,
                        name="compress",
                    )
                with tf.name_scope("side_entropy_model_3"):
                    shape = tf.concat([z_shape, [n]], 0)
                    index = tf.zeros(shape, tf.int32) + tf.range(n)
                    z_hat = tf.compat.v1.map_fn(
                        lambda s: gen_ops.unbounded_index_range_decode(
                            s,
                            index,
                            s_cdf,
                            side_length,
                            s_offset,
                            precision=PRECISION,
                            overflow_width=4,
                            debug_level=0,
                        ),
                        z_strings,
                        dtype=tf.int32,
                        name="decompress",
                    )
                    z_hat = tf.math.add(z_hat, 0, name="add_1")

            # The integer hyper synthesis: z_hat -> scale index 0..63, cropped to y.
            with tf.name_scope("hyper_synthesis"):
                h = int_layer(z_hat, n, n, 5, 2, "layer_0", "q_re_lu", 255, 8, 0)
                h = int_layer(h, n, n, 5, 2, "layer_1", "q_re_lu_1", 255, 16, 0)
                h = int_layer(h, n, m, 3, 1, "layer_2", "q_re_lu_2", NUM_SCALES - 1, 2, 40)
            y_height, y_width = y_shape[0], y_shape[1]
            with tf.name_scope("GridAlign"):
                scale_index = h[:, :y_height, :y_width, :]

            with tf.name_scope("entropy_model"):
                with tf.name_scope("entropy_model"):
                    table = tf.constant(cdf, name="pmf_to_cdf/stack/_14__cf__446")
                    offset = tf.constant(cdf_offset, name="Const_12")
                with tf.name_scope("entropy_model_2"):
                    y_sym = tf.cast(tf.floor(y + 0.5), tf.int32, name="Cast")
                    y_strings = tf.compat.v1.map_fn(
                        lambda a: gen_ops.unbounded_index_range_encode(
                            a[0],
                            a[1],
                            table,
                            cdf_length,
                            offset,
                            precision=PRECISION,
                            overflow_width=4,
                            debug_level=0,
                        ),
                        (y_sym, scale_index),
                        dtype=tf.string,
                        name="compress",
                    )
                with tf.name_scope("entropy_model_3"):
                    y_dec = tf.compat.v1.map_fn(
                        lambda a: gen_ops.unbounded_index_range_decode(
                            a[0],
                            a[1],
                            table,
                            cdf_length,
                            offset,
                            precision=PRECISION,
                            overflow_width=4,
                            debug_level=0,
                        ),
                        (y_strings, scale_index),
                        dtype=tf.int32,
                        infer_shape=False,
                        name="decompress",
                    )
                    y_hat = tf.cast(y_dec, tf.float32, name="Cast")

            with tf.name_scope("synthesis"):
                x = up(y_hat, m, n, 5, 2, "layer_0", relu=True)
                x = up(x, n, n, 5, 2, "layer_1", relu=True)
                x = up(x, n, n, 5, 2, "layer_2", relu=True)
                x = up(x, n, 3, 5, 2, "layer_3")
                x = tf.math.multiply(tf.sigmoid(x), 255.0, name="mul")
            x_height, x_width = x_shape[0], x_shape[1]
            with tf.name_scope("GridAlign_1"):
                x_hat = x[:, :x_height, :x_width, :]
    finally:
        control_flow_util.ENABLE_CONTROL_FLOW_V2 = previous

    sender = dict(
        zip(SENDER_OUTPUTS, (y_strings, z_strings, x_shape, y_shape, z_shape), strict=True)
    )
    info = {"cdf": cdf, "cdf_length": cdf_length, "cdf_offset": cdf_offset}
    return graph, {"input_image": image}, sender, {"output_image": x_hat}, info


def build_metagraph(path: Path, n: int = 8, m: int = 8, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the graph as a tfci metagraph (``sender``/``receiver`` signatures) to
    ``path``; return its CDF table, lengths and offsets."""
    import tensorflow as tf
    from tensorflow.core.protobuf import meta_graph_pb2

    graph, inputs, sender, outputs, info = build(n, m, seed)
    with graph.as_default():
        metagraph = tf.compat.v1.train.export_meta_graph(graph=graph)

    def tensor_info(tensor) -> meta_graph_pb2.TensorInfo:  # type: ignore[no-untyped-def]
        return meta_graph_pb2.TensorInfo(
            name=tensor.name,
            dtype=tensor.dtype.as_datatype_enum,
            tensor_shape=tensor.shape.as_proto(),
        )

    send = metagraph.signature_def["sender"]
    for key, tensor in inputs.items():
        send.inputs[key].CopyFrom(tensor_info(tensor))
    for key, tensor in sender.items():
        send.outputs[key].CopyFrom(tensor_info(tensor))
    receive = metagraph.signature_def["receiver"]
    for key, tensor in sender.items():
        receive.inputs[key].CopyFrom(tensor_info(tensor))
    for key, tensor in outputs.items():
        receive.outputs[key].CopyFrom(tensor_info(tensor))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(metagraph.SerializeToString())
    return info
