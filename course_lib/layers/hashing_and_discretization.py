"""Bucketing and hashing preprocessing layers (分桶与哈希预处理层), with Keras 3's behaviour.

- :class:`Discretization`: continuous values to the index of their bin
  (``bin_boundaries`` given, or learned by ``adapt`` from Keras's approximate
  quantiles, reproduced step for step: the same summaries, merges and
  interpolations in the same float types, so the boundaries are Keras's to
  the bit).
- :class:`Hashing`: strings or integers to ``hash % num_bins``: FarmHash64
  (TensorFlow's ``to_hash_bucket_fast``) or, with a ``salt``, SipHash-2-4
  (``to_hash_bucket_strong``). As in Keras, integers are hashed through their
  decimal string and floats are first truncated to int64; a ``mask_value``
  takes bin 0 and the others are shifted by one.
- :class:`HashedCrossing`: crosses two or more scalar features with
  TensorFlow's ``sparse.cross_hashed``: a string feature contributes its
  FarmHash64, an integer its own int64 bits, combined with
  ``FingerprintCat64`` from the key ``0xDECAFCAFFE``.

Encodings (``output_mode``) are Keras's ``encode_categorical_inputs``:
``"int"`` returns the indices; ``"one_hot"`` one vector per value (a last
axis of size 1 is replaced); ``"multi_hot"`` / ``"count"`` reduce the one-hot
vectors over axis 1 (axis 0 of a 1-D input): ``(batch, depth)`` for a
``(batch, n)`` input. A scalar input is a batch of one first.

Output dtypes are those Keras returns: int32 for Discretization's ``"int"``
(TensorFlow's ``Bucketize``), int64 for Hashing's and HashedCrossing's
``"int"`` (Hashing takes ``dtype="int32"`` too), the layer's float type for
the other modes.

Strings and hashing live on the host (as in :mod:`course_lib.layers.text_preprocessing`);
the indices and vectors they produce are arrays of ``backend.xp``.

Gradients: none. These layers are ``differentiable = False`` (the engine
stops the gradient there) and their ``backward`` raises a TypeError that
names the layer.

What Keras has and course_lib does not: sparse outputs (``sparse=True`` is
refused), ragged and sparse inputs.
"""
from __future__ import annotations

import numbers

from course_lib import backend
from course_lib.layers.base import Layer, dtype_policy
from course_lib.layers.text_preprocessing import _refuse_sparse
from course_lib.preprocessing import text as text_rules

_MASK64 = (1 << 64) - 1
_CROSS_KEY = 0xDECAFCAFFE
"""``tf.sparse.cross_hashed``'s default hash key (``_DEFAULT_HASH_KEY`` in TensorFlow's sparse_ops)."""
_CAT_MUL = 0xc6a4a7935bd1e995


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _check_mode(where, output_mode, allowed):
    if output_mode not in allowed:
        raise ValueError(f"{where}: output_mode must be one of {allowed}. Received: output_mode={output_mode!r}")
    return output_mode


def _not_differentiable(label, what):
    return TypeError(
        f"{label} is a preprocessing layer: it turns {what} into bin indices, so no gradient flows through "
        "it. Put it before the layers you train (or apply it to the data beforehand)."
    )


def _encode(indices, output_mode, depth, dtype):
    """Keras's ``encode_categorical_inputs`` on an integer array of ``backend.xp``."""
    xp = backend.xp
    if output_mode == "int":
        return indices.astype(dtype)
    if indices.ndim == 0:
        indices = indices.reshape(1)
    if output_mode == "one_hot":
        if indices.ndim > 1 and indices.shape[-1] == 1:
            indices = indices.reshape(indices.shape[:-1])
        return (indices[..., None] == xp.arange(depth, dtype=indices.dtype)).astype(dtype)
    one_hot = (indices[..., None] == xp.arange(depth, dtype=indices.dtype)).astype(dtype)
    axis = 1 if indices.ndim > 1 else 0
    return one_hot.max(axis=axis) if output_mode == "multi_hot" else one_hot.sum(axis=axis)


def _encoded_shape(shape, output_mode, depth):
    """The shape :func:`_encode` gives for an input of ``shape``."""
    shape = tuple(shape)
    if output_mode == "int":
        return shape
    if not shape:
        shape = (1,)
    if output_mode == "one_hot":
        return (shape[:-1] if len(shape) > 1 and shape[-1] == 1 else shape) + (depth,)
    return (shape[0],) + shape[2:] + (depth,) if len(shape) > 1 else (depth,)


def _host_values(value, where):
    """``value`` on the host: an object array of ``str`` for strings, a NumPy array for numbers."""
    try:
        return text_rules.as_host_array(value, where, "string")
    except TypeError:
        pass
    return backend.to_numpy(backend.as_numeric(value, where))


# ------------------------------------------------------------------ Discretization
def _summarize(values, epsilon):
    """Keras's ``summarize``: every ``step``-th sorted value, each weighing ``step``."""
    xp = backend.xp
    values = xp.sort(xp.reshape(values, [-1]))
    elements = values.size
    num_buckets = 1.0 / epsilon
    increment = elements / num_buckets
    step = max(increment, 1)
    start = step - 1
    boundaries = values[int(start)::int(step)]
    weights = xp.ones_like(boundaries) * step
    return xp.stack([boundaries, weights])


def _merge_summaries(prev_summary, next_summary, epsilon):
    xp = backend.xp
    merged = xp.concatenate((prev_summary, next_summary), axis=1)
    merged = xp.take(merged, xp.argsort(merged[0]), axis=1)
    return _compress_summary(merged, epsilon)


def _compress_summary(summary, epsilon):
    """Keras's ``compress_summary``: interpolate the values at cumulative weights ``epsilon, 2 epsilon, ...``."""
    xp = backend.xp
    if summary.shape[1] * epsilon < 1:
        return summary
    percents = epsilon + xp.arange(0.0, 1.0, epsilon)
    cum_weights = summary[1].cumsum()
    cum_weight_percents = cum_weights / cum_weights[-1]
    new_bins = xp.interp(percents, cum_weight_percents, summary[0])
    cum_weights = xp.interp(percents, cum_weight_percents, cum_weights)
    new_weights = cum_weights - xp.concatenate((xp.zeros(1), cum_weights[:-1]))
    return xp.stack((new_bins, new_weights)).astype("float32")


class Discretization(Layer):
    """Continuous values to bin indices (分桶): ``keras.layers.Discretization``.

    >>> Discretization(bin_boundaries=[0.0, 1.0, 2.0])([[-1.5, 1.0, 3.4, 0.5], [0.0, 3.0, 1.3, 0.0]])
    array([[0, 2, 3, 1],
           [1, 3, 2, 1]], dtype=int32)

    Args:
        bin_boundaries: a sorted list of boundaries: ``[0., 1., 2.]`` makes the bins ``(-inf, 0)``,
            ``[0, 1)``, ``[1, 2)`` and ``[2, inf)``. Leave it None to learn them with ``adapt``.
        num_bins: how many bins ``adapt`` learns (``num_bins - 1`` boundaries); not with ``bin_boundaries``.
        epsilon: the error tolerance of the approximate quantiles (Keras's summaries keep about
            ``1 / epsilon`` points).
        output_mode: ``"int"`` (the bin index, int32), ``"one_hot"``, ``"multi_hot"`` or ``"count"``
            (float vectors of ``len(bin_boundaries) + 1`` entries).
        sparse: only False (course_lib has no sparse tensors).

    Inputs are cast to the float type (``floatx``) and compared with the
    boundaries in float32, as TensorFlow's ``Bucketize`` does.

    ``adapt(data)`` follows Keras: an array (or tensor) is one batch; a list,
    tuple or other iterable is a sequence of batches (so a list of rows is
    summarised row by row, as Keras does), of which ``steps`` are read when
    given.
    """

    differentiable = False

    def __init__(self, bin_boundaries=None, num_bins=None, epsilon=0.01, output_mode="int", sparse=False,
                 dtype=None, name=None):
        where = "Discretization"
        if sparse and output_mode == "int":
            raise ValueError(f"{where}: `sparse=True` may only be used if `output_mode` is 'one_hot', "
                             f"'multi_hot', or 'count'. Received: sparse={sparse} and output_mode={output_mode!r}")
        _check_mode(where, output_mode, ("int", "one_hot", "multi_hot", "count"))
        _refuse_sparse(where, sparse)
        if num_bins is not None and (not _is_int(num_bins) or num_bins < 0):
            raise ValueError(f"{where}: num_bins must be an int >= 0. Received: num_bins={num_bins!r}")
        if num_bins is not None and bin_boundaries is not None:
            raise ValueError(f"{where}: set num_bins or bin_boundaries, not both. Received: num_bins={num_bins} "
                             f"and bin_boundaries={bin_boundaries}")
        if num_bins is None and bin_boundaries is None:
            raise ValueError(f"{where}: set either num_bins (and call adapt) or bin_boundaries. "
                             "Received: neither")
        backend.check_real(where, "epsilon", epsilon)
        if not 0 < epsilon <= 1:
            raise ValueError(f"{where}: epsilon must be in (0, 1]. Received: epsilon={epsilon!r}")
        super().__init__(name=name, dtype=dtype)
        if bin_boundaries is not None:
            bin_boundaries = [float(b) for b in (bin_boundaries.tolist() if hasattr(bin_boundaries, "tolist")
                                                 else bin_boundaries)]
        self.bin_boundaries = bin_boundaries
        self.num_bins = num_bins
        self.epsilon = epsilon
        self.output_mode = output_mode
        self.sparse = False
        self.summary = None if self.bin_boundaries else backend.xp.zeros((2, 0), dtype="float32")

    def _label(self):
        return f"Discretization '{self.name}'"

    # ---------------------------------------------------------------- adapt
    def adapt(self, data, steps=None):
        """Learn ``num_bins - 1`` boundaries from the approximate quantiles of ``data`` (see the class docstring)."""
        if self.num_bins is None:
            raise ValueError(f"{self._label()}: cannot adapt a layer made with `bin_boundaries`; "
                             "use `num_bins` instead.")
        self.reset_state()
        if hasattr(data, "__iter__") and not hasattr(data, "shape") and not isinstance(data, (str, bytes)):
            for step, batch in enumerate(data):
                if steps is not None and step >= steps:
                    break
                self.update_state(batch)
        else:
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        """Summarise one batch and merge it into the running summary."""
        if hasattr(data, "numpy") and not hasattr(data, "__array_interface__"):
            data = data.numpy()
        values = backend.as_numeric(data, f"{self._label()} adapt").astype("float32")
        summary = _summarize(values, self.epsilon)
        self.summary = _merge_summaries(summary, self.summary, self.epsilon)

    def finalize_state(self):
        if self.num_bins is None:
            return
        boundaries = _compress_summary(self.summary, 1.0 / self.num_bins)[0, :-1]
        self.bin_boundaries = backend.to_numpy(boundaries).tolist()

    def reset_state(self):
        if self.num_bins is None:
            return
        self.summary = backend.xp.zeros((2, 0), dtype="float32")

    # ---------------------------------------------------------------- calls
    def _depth(self):
        return len(self.bin_boundaries) + 1

    def _prepare_inputs(self, inputs):
        if hasattr(inputs, "numpy") and not hasattr(inputs, "__array_interface__"):
            inputs = inputs.numpy()
        return backend.as_numeric(inputs, self._label())

    def _autocast(self, value):
        return value

    def _output_dtype(self, input_dtypes):
        return "int32" if self.output_mode == "int" else self.dtype

    def forward(self, inputs, training=False):
        xp = backend.xp
        if self.bin_boundaries is None:
            raise ValueError(f"{self._label()}: pass `bin_boundaries` or call `adapt(data)` before calling "
                             "the layer.")
        boundaries = xp.asarray(self.bin_boundaries, dtype="float32")
        if bool(backend.to_numpy(xp.any(boundaries[1:] < boundaries[:-1]))):
            raise ValueError(f"{self._label()}: bin_boundaries must be sorted. Received: "
                             f"bin_boundaries={self.bin_boundaries}")
        values = xp.asarray(inputs).astype(self.dtype)
        indices = xp.searchsorted(boundaries.astype(self.dtype), values, side="right").astype("int32")
        return _encode(indices, self.output_mode, self._depth(), self._output_dtype(None)), None

    def backward(self, output_grads, cache):
        raise _not_differentiable(self._label(), "values")

    def compute_output_shape(self, input_shape):
        if self.output_mode == "int":
            return tuple(input_shape)
        depth = self._depth() if self.bin_boundaries is not None else self.num_bins
        return _encoded_shape(input_shape, self.output_mode, depth)

    def get_config(self):
        # As Keras 3.15: no `trainable`, and the dtype as its name.
        return {"bin_boundaries": self.bin_boundaries, "num_bins": self.num_bins, "epsilon": self.epsilon,
                "output_mode": self.output_mode, "sparse": self.sparse, "name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("trainable", None)
        if config.get("bin_boundaries") is not None and config.get("num_bins") is not None:
            # An adapted layer has both; __init__ takes one (as Keras's from_config).
            boundaries = config.pop("bin_boundaries")
            layer = cls(**config)
            layer.bin_boundaries = [float(b) for b in boundaries]
            layer.summary = None
            return layer
        return cls(**config)


# ------------------------------------------------------------------ hashing
def _rotl(value, shift):
    return ((value << shift) | (value >> (64 - shift))) & _MASK64


def siphash64(key0, key1, data):
    """SipHash-2-4 of ``data`` (bytes) with the key ``(key0, key1)``: TensorFlow's ``to_hash_bucket_strong``."""
    v0 = key0 ^ 0x736f6d6570736575
    v1 = key1 ^ 0x646f72616e646f6d
    v2 = key0 ^ 0x6c7967656e657261
    v3 = key1 ^ 0x7465646279746573

    def rounds(count):
        nonlocal v0, v1, v2, v3
        for _ in range(count):
            v0 = (v0 + v1) & _MASK64
            v1 = _rotl(v1, 13) ^ v0
            v0 = _rotl(v0, 32)
            v2 = (v2 + v3) & _MASK64
            v3 = _rotl(v3, 16) ^ v2
            v0 = (v0 + v3) & _MASK64
            v3 = _rotl(v3, 21) ^ v0
            v2 = (v2 + v1) & _MASK64
            v1 = _rotl(v1, 17) ^ v2
            v2 = _rotl(v2, 32)

    length = len(data)
    full = length - length % 8
    for offset in range(0, full, 8):
        block = int.from_bytes(data[offset:offset + 8], "little")
        v3 ^= block
        rounds(2)
        v0 ^= block
    last = int.from_bytes(data[full:], "little") | ((length & 0xff) << 56)
    v3 ^= last
    rounds(2)
    v0 ^= last
    v2 ^= 0xff
    rounds(4)
    return v0 ^ v1 ^ v2 ^ v3


def _hash_text(value):
    """What TensorFlow hashes for one input value: a string as it is, an integer as ``as_string`` writes it."""
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, bool):
        return b"true" if value else b"false"
    return str(int(value)).encode("utf-8")


class Hashing(Layer):
    """Strings or integers to hash bins (哈希分桶): ``keras.layers.Hashing``.

    >>> Hashing(num_bins=3)([["A"], ["B"], ["C"], ["D"], ["E"]])
    array([[1],
           [0],
           [1],
           [1],
           [2]])

    Args:
        num_bins: the number of bins, the mask's bin included when there is a ``mask_value``.
        mask_value: None, or a value that maps to bin 0 (the others hash into ``1 .. num_bins - 1``).
        salt: None (FarmHash64), or an int or a pair of ints: the key of SipHash-2-4 (an int ``s``
            is the pair ``[s, s]``).
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"`` or ``"count"``.
        sparse: only False (course_lib has no sparse tensors).
        dtype: the output type: ``"int64"`` (default) or ``"int32"`` in ``"int"`` mode, ``floatx``
            in the others.

    Inputs: strings, integers (hashed through their decimal string) or floats
    (truncated to int64 first), of any shape.
    """

    differentiable = False

    def __init__(self, num_bins, mask_value=None, salt=None, output_mode="int", sparse=False, **kwargs):
        where = "Hashing"
        dtype = kwargs.pop("dtype", None)
        dtype = ("int64" if output_mode == "int" else backend.floatx()) if dtype is None else \
            dtype.get("config", {}).get("name") if isinstance(dtype, dict) else str(dtype)
        if not _is_int(num_bins) or num_bins <= 0:
            raise ValueError(f"{where}: num_bins must be a positive int. Received: num_bins={num_bins!r}")
        if output_mode == "int" and dtype not in ("int32", "int64"):
            raise ValueError(f"{where}: with output_mode='int' the dtype must be 'int32' or 'int64'. "
                             f"Received: dtype={dtype!r}")
        _check_mode(where, output_mode, ("int", "one_hot", "multi_hot", "count"))
        if sparse and output_mode == "int":
            raise ValueError(f"{where}: `sparse` may only be True if `output_mode` is 'one_hot', 'multi_hot', "
                             f"or 'count'. Received: sparse={sparse} and output_mode={output_mode!r}")
        _refuse_sparse(where, sparse)
        if salt is not None:
            if isinstance(salt, (tuple, list)) and len(salt) == 2 and all(_is_int(s) for s in salt):
                salt = [int(s) for s in salt]
            elif _is_int(salt):
                salt = [int(salt), int(salt)]
            else:
                raise ValueError(f"{where}: salt must be an int or a tuple of 2 ints. Received: salt={salt!r}")
        super().__init__(dtype=None if output_mode == "int" else dtype, **kwargs)
        self._dtype = dtype  # an integer type in "int" mode, which the float-only base check refuses
        self.num_bins = num_bins
        self.mask_value = mask_value
        self.salt = salt
        self.strong_hash = salt is not None
        self.output_mode = output_mode
        self.sparse = False

    def _label(self):
        return f"Hashing '{self.name}'"

    def _prepare_inputs(self, inputs):
        return _host_values(inputs, self._label())

    def _autocast(self, value):
        return value

    def _output_dtype(self, input_dtypes):
        return self.dtype

    def _bucket(self, data, bins):
        if self.strong_hash:
            return siphash64(self.salt[0] & _MASK64, self.salt[1] & _MASK64, data) % bins
        return text_rules.farmhash_fingerprint64(data) % bins

    def forward(self, inputs, training=False):
        values = _host_values(inputs, self._label())
        flat = values.reshape(-1).tolist()
        bins, masked = self.num_bins, self.mask_value is not None and self.num_bins > 1
        if masked:
            bins -= 1
        floats = values.dtype.kind == "f"
        found = {}
        indices = []
        for value in flat:
            if masked and value == self.mask_value:
                indices.append(0)
                continue
            key = int(value) if floats else value  # tf.cast(float, int64) truncates toward zero
            index = found.get(key)
            if index is None:
                index = found[key] = self._bucket(_hash_text(key), bins) + (1 if masked else 0)
            indices.append(index)
        indices = backend.xp.asarray(indices, dtype="int64").reshape(values.shape)
        return _encode(indices, self.output_mode, self.num_bins, self.dtype), None

    def backward(self, output_grads, cache):
        raise _not_differentiable(self._label(), "strings and integers")

    def compute_output_shape(self, input_shape):
        return _encoded_shape(input_shape, self.output_mode, self.num_bins)

    def get_config(self):
        config = super().get_config()
        config["dtype"] = dtype_policy(self.dtype)
        config.update({"num_bins": self.num_bins, "salt": self.salt, "mask_value": self.mask_value,
                       "output_mode": self.output_mode, "sparse": self.sparse})
        return config


def _fingerprint_cat64(first, second):
    """TensorFlow's ``FingerprintCat64``: combines two 64-bit fingerprints."""
    result = first ^ _CAT_MUL
    mixed = (second * _CAT_MUL) & _MASK64
    result ^= ((mixed ^ (mixed >> 47)) * _CAT_MUL) & _MASK64
    result = (result * _CAT_MUL) & _MASK64
    result = ((result ^ (result >> 47)) * _CAT_MUL) & _MASK64
    return result ^ (result >> 47)


class HashedCrossing(Layer):
    """Crosses scalar features by hashing (哈希特征交叉): ``keras.layers.HashedCrossing``.

    >>> HashedCrossing(num_bins=5)((["A", "B", "A", "B", "A"], [101, 101, 101, 102, 102]))
    array([1, 4, 1, 1, 3])

    Args:
        num_bins: the number of hash bins.
        output_mode: ``"int"`` (int64 bins) or ``"one_hot"`` (float vectors of ``num_bins``).
        sparse: only False (course_lib has no sparse tensors).

    Call it on a list or tuple of two or more features of one shape: ``()``,
    ``(batch,)`` or ``(batch, 1)``, each strings or integers. The bin of a
    row is TensorFlow's ``cross_hashed``: a string contributes its FarmHash64,
    an integer its int64 bits, folded with ``FingerprintCat64`` from the key
    ``0xDECAFCAFFE``, modulo ``num_bins``.
    """

    differentiable = False

    def __init__(self, num_bins, output_mode="int", sparse=False, name=None, dtype=None, **kwargs):
        where = "HashedCrossing"
        kwargs.pop("trainable", None)  # not in Keras's config; accepted from Layer-style configs
        if kwargs:
            raise TypeError(f"{where}: unrecognized keyword arguments: {sorted(kwargs)}.")
        if not _is_int(num_bins) or num_bins <= 0:
            raise ValueError(f"{where}: num_bins must be a positive int. Received: num_bins={num_bins!r}")
        _check_mode(where, output_mode, ("int", "one_hot"))
        _refuse_sparse(where, sparse)
        if isinstance(dtype, dict):
            dtype = dtype.get("config", {}).get("name")
        dtype = ("int64" if output_mode == "int" else backend.floatx()) if dtype is None else str(dtype)
        super().__init__(name=name, dtype=None if output_mode == "int" else dtype)
        self._dtype = dtype
        self.num_bins = num_bins
        self.output_mode = output_mode
        self.sparse = False

    def _label(self):
        return f"HashedCrossing '{self.name}'"

    def _prepare_inputs(self, inputs):
        if not isinstance(inputs, (list, tuple)):
            raise ValueError(f"{self._label()}: call it on a list or tuple of inputs. Received: "
                             f"{type(inputs).__name__}")
        return [_host_values(item, self._label()) for item in inputs]

    def _autocast(self, value):
        return value

    def _output_dtype(self, input_dtypes):
        return self.dtype

    def _check_shapes(self, shapes):
        if not isinstance(shapes, list) or len(shapes) < 2:
            raise ValueError(f"{self._label()}: call it on at least two inputs. Received: input shapes {shapes}")
        first = tuple(shapes[0])
        if len(first) > 2 or (len(first) == 2 and first[-1] != 1):
            raise ValueError(f"{self._label()}: every input must have shape (), (batch_size,) or "
                             f"(batch_size, 1). Received: input shapes {shapes}")
        if any(tuple(shape) != first for shape in shapes[1:]):
            raise ValueError(f"{self._label()}: all inputs must have the same shape. Received: input shapes "
                             f"{shapes}")

    def _check_input(self, shapes):
        self._check_shapes(shapes)

    def forward(self, inputs, training=False):
        values = [_host_values(item, self._label()) for item in inputs]
        self._check_shapes([tuple(v.shape) for v in values])
        columns = []
        for value in values:
            if value.dtype == object:
                columns.append([text_rules.farmhash_fingerprint64(item.encode("utf-8"))
                                for item in value.reshape(-1).tolist()])
            elif value.dtype.kind in "iu":
                columns.append([int(item) & _MASK64 for item in value.reshape(-1).tolist()])
            else:
                raise ValueError(f"{self._label()}: every input must be integers or strings. Received: an input "
                                 f"of dtype {value.dtype}")
        bins = []
        for row in zip(*columns):
            hashed = _CROSS_KEY
            for feature in row:
                hashed = _fingerprint_cat64(hashed, feature)
            bins.append(hashed % self.num_bins)
        indices = backend.xp.asarray(bins, dtype="int64").reshape(values[0].shape)
        return _encode(indices, self.output_mode, self.num_bins, self.dtype), None

    def backward(self, output_grads, cache):
        raise _not_differentiable(self._label(), "features")

    def compute_output_shape(self, input_shape):
        self._check_shapes(list(input_shape) if isinstance(input_shape, (list, tuple)) and input_shape
                           and isinstance(input_shape[0], (list, tuple)) else input_shape)
        return _encoded_shape(input_shape[0], self.output_mode, self.num_bins)

    def get_config(self):
        # As Keras 3.15: no `trainable`, and the dtype as its name.
        return {"num_bins": self.num_bins, "output_mode": self.output_mode, "sparse": self.sparse,
                "name": self.name, "dtype": self.dtype}
