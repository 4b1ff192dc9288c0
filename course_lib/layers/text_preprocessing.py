"""Text and category preprocessing layers (文本与类别预处理层), with Keras 3's behaviour.

- :class:`StringLookup` and :class:`IntegerLookup`: a vocabulary (given, or
  learned by ``adapt``) maps each string or integer to an index; ``invert``
  maps indices back. Both are one index-lookup implementation, as in Keras.
- :class:`TextVectorization`: standardise, split, n-grams, then a
  :class:`StringLookup` with ``mask_token=""`` (index 0) and ``"[UNK]"``
  (index 1), as Keras builds it; the rules of the first three steps are
  :mod:`course_lib.preprocessing.text`'s.
- :class:`CategoryEncoding`: integer categories to one-hot, multi-hot or
  count vectors.

What ``adapt`` learns follows Keras exactly: tokens by count, most frequent
first, equal counts by the token itself in DESCENDING order (Keras sorts
``(count, token)`` and reverses), cut to ``max_tokens`` entries in all, the
mask and OOV entries included; for ``output_mode="tf_idf"`` each token's
weight is ``log(1 + documents / (1 + documents containing it))`` and the OOV
entry gets the mean of those weights.

Output dtypes are those Keras's layers return when called: int64 for the
lookups in ``"int"``, ``"one_hot"``, ``"multi_hot"`` and ``"count"`` modes (Keras
3.15 returns int64 counts from StringLookup, IntegerLookup and
TextVectorization, although its symbolic outputs say float32), float32 for
``"tf_idf"`` and for every CategoryEncoding output; strings (a NumPy array of
``str``, dtype object) from an inverting StringLookup.

Strings live on the host: the lookups run in Python on NumPy string arrays
(see :func:`course_lib.preprocessing.text.as_host_array`); the numbers they
produce are arrays of ``backend.xp``.

Gradients: none. These layers map tokens to indices or counts, a function
without a derivative, so they are ``differentiable = False`` (the engine stops
the gradient there, as at any integer lookup) and their ``backward`` raises a
TypeError that names the layer.

What Keras has and course_lib does not: sparse and ragged outputs
(``sparse=True``, ``ragged=True`` are refused; ``output_mode="one_hot"`` after
a split, where Keras returns a RaggedTensor, is refused), SipHash (``salt``),
inputs of rank above 2 in the counting modes, and TensorFlow-tensor callables:
a ``standardize`` callable takes and returns one ``str``, a ``split`` callable
takes one ``str`` and returns a list of ``str`` (Keras hands them tensors).
"""
from __future__ import annotations

import collections
import math
import numbers
import os

from course_lib import backend
from course_lib.layers.base import Layer, _is_symbolic
from course_lib.preprocessing import text as text_rules

_OUTPUT_MODES = ("int", "one_hot", "multi_hot", "count", "tf_idf")
_STANDARDIZE = ("lower_and_strip_punctuation", "lower", "strip_punctuation")
_SPLIT = ("whitespace", "character")
_DROPPED = (1 << 63) - 1
"""What a mask token becomes outside ``"int"`` mode: int64's maximum, which every encoding drops (as Keras's)."""


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _output_mode(where, output_mode, allowed=_OUTPUT_MODES):
    # Keras's deprecated spellings.
    output_mode = {"binary": "multi_hot", "tf-idf": "tf_idf"}.get(output_mode, output_mode)
    if output_mode not in allowed:
        raise ValueError(f"{where}: output_mode must be one of {allowed}. Received: output_mode={output_mode!r}")
    return output_mode


def _refuse_sparse(where, sparse, ragged=False):
    for option, value in (("sparse", sparse), ("ragged", ragged)):
        if value:
            raise ValueError(
                f"{where}: `{option}=True` is not supported by course_lib (no sparse or ragged tensors); "
                f"only {option}=False is. Received: {option}={value!r}"
            )


def _no_gradient(label, inputs):
    """The error of a preprocessing layer's backward: no gradient flows through it."""
    return TypeError(
        f"{label} is a preprocessing layer: it turns {inputs} into token indices or counts, so no gradient "
        "flows through it. Put it before the layers you train (or apply it to the data beforehand)."
    )


def _is_batches(data):
    """An iterable of batches (a generator, a tf.data.Dataset, a PyDataset), not one array of data."""
    return hasattr(data, "__iter__") and not isinstance(data, (list, tuple, str, bytes)) \
        and not hasattr(data, "shape") and not hasattr(data, "numpy")


class _Batch:
    """Tokens (or their indices) of one call, flat: with ``shape`` when dense, ``lengths`` (one per row) when ragged."""

    def __init__(self, flat, shape=None, lengths=None):
        self.flat = list(flat)
        self.shape = None if shape is None else tuple(shape)
        self.lengths = None if lengths is None else list(lengths)

    @property
    def ragged(self):
        return self.lengths is not None

    def rows(self):
        """The rows as lists (a dense array: along its first axis; rank 0 and 1 are one row)."""
        if self.ragged:
            rows, start = [], 0
            for length in self.lengths:
                rows.append(self.flat[start:start + length])
                start += length
            return rows
        if len(self.shape) <= 1:
            return [self.flat]
        width = math.prod(self.shape[1:])
        return [self.flat[start:start + width] for start in range(0, len(self.flat), width)]

    def map(self, function):
        return _Batch([function(item) for item in self.flat], self.shape, self.lengths)


def _bincount(where, batch, depth, binary, dtype, weights=None):
    """multi_hot / count over the last axis, as Keras's TensorFlow bincount: ``(rows, depth)``, or ``(depth,)`` for rank <= 1.

    Values at or above ``depth`` are dropped (Keras's ``maxlength``); negative values are an error.
    """
    xp = backend.xp
    if not batch.ragged and len(batch.shape) > 2:
        raise ValueError(
            f"{where}: in output_mode 'multi_hot', 'count' and 'tf_idf' the input must have rank 1 or 2 "
            f"(course_lib follows Keras's bincount, which counts along the last axis). Received: input with "
            f"shape {batch.shape}"
        )
    lengths = batch.lengths if batch.ragged else [len(row) for row in batch.rows()]
    values = xp.asarray(batch.flat, dtype="int64").reshape(-1)
    if bool(backend.to_numpy(xp.any(values < 0))):
        raise ValueError(f"{where}: the category indices must be >= 0. Received: a negative index among "
                         f"{backend.to_numpy(values)[:20].tolist()}")
    rows = xp.repeat(xp.arange(len(lengths), dtype="int64"), xp.asarray(lengths, dtype="int64"))
    keep = values < depth
    positions = rows[keep] * depth + values[keep]
    if weights is not None:
        weights = xp.asarray(weights).reshape(-1)[keep].astype("float64")
    counts = xp.bincount(positions, weights=weights, minlength=len(lengths) * depth)
    if binary:
        counts = xp.minimum(counts, 1)
    counts = counts.astype(dtype).reshape(len(lengths), depth)
    return counts[0] if (not batch.ragged and len(batch.shape) <= 1) else counts


def _one_hot(batch, depth, dtype):
    """One vector per value (a last axis of size 1 is replaced, as Keras's); out-of-range values give zeros."""
    xp = backend.xp
    shape = batch.shape
    if len(shape) > 1 and shape[-1] == 1:
        shape = shape[:-1]
    values = xp.asarray(batch.flat, dtype="int64").reshape(shape)
    return (values[..., None] == xp.arange(depth, dtype="int64")).astype(dtype)


# ------------------------------------------------------------------ the lookup
class _IndexLookup(Layer):
    """What StringLookup and IntegerLookup share: Keras's ``IndexLookup`` (vocabulary, adapt, lookups, encodings).

    Indices: with ``output_mode="int"`` and a ``mask_token``, 0 is the mask;
    then come ``num_oov_indices`` OOV indices, then the vocabulary. In the
    other modes the mask token has no index (it is dropped) and OOV starts at
    0. One OOV index takes every unknown value; several spread them by
    ``value % num_oov_indices`` (integers, ``oov_method="floormod"``) or by
    FarmHash64 (strings, or ``oov_method="farmhash"``), as Keras; none makes
    an unknown value an error.
    """

    differentiable = False
    _vocabulary_kind = "string"

    def __init__(self, max_tokens, num_oov_indices, mask_token, oov_token, vocabulary_dtype, vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", sparse=False, pad_to_max_tokens=False,
                 oov_method="floormod", name=None, salt=None, **kwargs):
        owner = kwargs.pop("_owner", None)  # (class name, layer name) of a TextVectorization holding this lookup
        where = owner[0] if owner else type(self).__name__
        frozen_size = kwargs.pop("vocabulary_size", None)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        # As Keras: a lookup always computes in its vocabulary's type; saved configs carry these two.
        kwargs.pop("trainable", None)
        kwargs.pop("dtype", None)
        if kwargs:
            raise TypeError(f"{where}: unrecognized keyword arguments: {sorted(kwargs)}.")
        if max_tokens is not None and (not _is_int(max_tokens) or max_tokens <= 1):
            raise ValueError(f"{where}: max_tokens must be None or an int greater than 1. "
                             f"Received: max_tokens={max_tokens!r}")
        if pad_to_max_tokens and max_tokens is None:
            raise ValueError(f"{where}: pad_to_max_tokens=True needs max_tokens. Received: max_tokens=None")
        if not _is_int(num_oov_indices) or num_oov_indices < 0:
            raise ValueError(f"{where}: num_oov_indices must be an int >= 0. "
                             f"Received: num_oov_indices={num_oov_indices!r}")
        if oov_method not in ("floormod", "farmhash"):
            raise ValueError(f"{where}: oov_method must be 'floormod' or 'farmhash'. Received: oov_method={oov_method!r}")
        if salt is not None:
            raise ValueError(f"{where}: `salt` (Keras's SipHash64 OOV buckets) is not supported by course_lib; "
                             f"only salt=None is. Received: salt={salt!r}")
        output_mode = _output_mode(where, output_mode)
        if invert and output_mode != "int":
            raise ValueError(f"{where}: invert=True needs output_mode='int'. Received: output_mode={output_mode!r}")
        _refuse_sparse(where, sparse)
        if idf_weights is not None and output_mode != "tf_idf":
            raise ValueError(f"{where}: idf_weights is only for output_mode='tf_idf'. "
                             f"Received: output_mode={output_mode!r}")
        if output_mode == "tf_idf" and has_input_vocabulary and idf_weights is None:
            raise ValueError(f"{where}: with a `vocabulary` in output_mode='tf_idf', pass `idf_weights` too.")
        super().__init__(name=name)
        self._where = where
        self._owner_name = owner[1] if owner else None
        self.invert = bool(invert)
        self.max_tokens = max_tokens
        self.num_oov_indices = num_oov_indices
        self.mask_token = self._token(mask_token)
        self.oov_token = self._token(oov_token)
        self.output_mode = output_mode
        self.sparse = False
        self.pad_to_max_tokens = bool(pad_to_max_tokens)
        self.vocabulary_dtype = vocabulary_dtype
        self.oov_method = oov_method
        self.salt = None
        self._frozen_vocab_size = frozen_size
        # As Keras: a vocabulary given as a list is saved in the config, one from a file (or adapt) as an asset.
        self.input_vocabulary = vocabulary if not isinstance(vocabulary, str) else None
        self.input_idf_weights = idf_weights
        self._has_input_vocabulary = bool(has_input_vocabulary)
        self._tokens = []
        self._index = {}
        self._idf = None
        if idf_weights is not None:
            self._idf = backend.xp.asarray(self._list(idf_weights), dtype=backend.floatx())
        self._reset_counts()
        if vocabulary is not None:
            self.set_vocabulary(vocabulary, idf_weights)

    # ----------------------------------------------------------- vocabulary
    def _label(self):
        return f"{self._where} '{self._owner_name or self.name}'"

    def _token(self, value):
        if value is None:
            return None
        return int(value) if self._vocabulary_kind == "int" else value

    @staticmethod
    def _list(values):
        if hasattr(values, "numpy"):
            values = values.numpy()
        if hasattr(values, "tolist"):
            values = values.tolist()
        return list(values)

    def _oov_start_index(self):
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start_index(self):
        return self._oov_start_index() + self.num_oov_indices

    def vocabulary_size(self):
        """The number of indices: the vocabulary plus the mask and OOV entries."""
        return len(self._tokens) + self._token_start_index()

    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index (the mask and OOV entries first), or without them."""
        vocabulary = [self.oov_token] * self._token_start_index() + list(self._tokens)
        if self.mask_token is not None and self.output_mode == "int":
            vocabulary[0] = self.mask_token
        return vocabulary if include_special_tokens else vocabulary[self._token_start_index():]

    def _host_tokens(self, values):
        kind = self._vocabulary_kind
        array = text_rules.as_host_array(values, f"{self._label()} vocabulary", kind, getattr(self, "encoding", "utf-8"))
        return array.reshape(-1).tolist()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (a list, array or a path to a text file with one token a line), replacing any other.

        The mask and OOV tokens may open the list (in Keras's order) or be
        left out. In ``"tf_idf"`` mode ``idf_weights`` gives one weight per
        entry; without the special tokens, the OOV entry gets their mean.
        """
        if self.output_mode == "tf_idf" and idf_weights is None:
            raise ValueError(f"{self._label()}: idf_weights must be set in output_mode='tf_idf'.")
        if self.output_mode != "tf_idf" and idf_weights is not None:
            raise ValueError(f"{self._label()}: idf_weights is only for output_mode='tf_idf'. "
                             f"Received: output_mode={self.output_mode!r}")
        if isinstance(vocabulary, (str, os.PathLike)):
            path = os.fspath(vocabulary)
            if not os.path.exists(path):
                raise ValueError(f"{self._label()}: the vocabulary file {path!r} does not exist.")
            if self.output_mode == "tf_idf":
                raise ValueError(f"{self._label()}: output_mode='tf_idf' cannot read its vocabulary from a file.")
            with open(path, encoding="utf-8") as handle:
                lines = handle.read().splitlines()
            # As TensorFlow's TextFileInitializer: every line is a token, from the first token index on.
            self._set_tokens([int(line) for line in lines] if self._vocabulary_kind == "int" else lines)
            return
        vocabulary = self._host_tokens(vocabulary)
        if not vocabulary:
            raise ValueError(f"{self._label()}: cannot set an empty vocabulary. Received: vocabulary={vocabulary}")
        token_start = self._token_start_index()
        special = [self.mask_token] * self._oov_start_index() + [self.oov_token] * self.num_oov_indices
        found_special = vocabulary[:token_start] == special
        tokens = vocabulary[token_start:] if found_special else vocabulary
        repeated = [token for token, count in collections.Counter(tokens).items() if count > 1]
        if repeated:
            raise ValueError(f"{self._label()}: the vocabulary has repeated terms: {repeated}. Make it unique.")
        for token, what, refused in ((self.mask_token, "mask", True), (self.oov_token, "OOV", self.invert)):
            if refused and token is not None and token in tokens:
                raise ValueError(
                    f"{self._label()}: found the reserved {what} token {token!r} at index "
                    f"{len(vocabulary) - 1 - vocabulary[::-1].index(token)} of the vocabulary. Leave the mask "
                    f"and OOV tokens out, or put them first, in this order: {special}."
                )
        if self.max_tokens is not None and token_start + len(tokens) > self.max_tokens:
            raise ValueError(f"{self._label()}: the vocabulary has {token_start + len(tokens)} entries, more "
                             f"than max_tokens={self.max_tokens}.")
        self._set_tokens(tokens)
        if self.output_mode == "tf_idf":
            weights = [float(w) for w in self._list(idf_weights)] if not hasattr(idf_weights, "ndim") \
                or idf_weights.ndim == 1 else None
            if weights is None:
                raise ValueError(f"{self._label()}: idf_weights must be 1-D. Received: shape "
                                 f"{tuple(idf_weights.shape)}")
            if len(weights) != len(vocabulary):
                raise ValueError(f"{self._label()}: idf_weights must have one weight per vocabulary entry. "
                                 f"Received: {len(weights)} weights for {len(vocabulary)} entries")
            front = [] if found_special else [sum(weights) / len(weights)] * token_start
            weights = front + weights
            if self.pad_to_max_tokens:
                weights += [0.0] * (self.max_tokens - len(weights))
            self._idf = backend.xp.asarray(weights, dtype=backend.floatx())

    def _set_tokens(self, tokens):
        start = self._token_start_index()
        self._tokens = list(tokens)
        self._index = {token: start + position for position, token in enumerate(self._tokens)}
        self._record_vocabulary_size()

    def _record_vocabulary_size(self):
        # Keras freezes the size of the multi_hot/count/tf_idf vectors at the first vocabulary.
        if self.output_mode != "int" and not self.pad_to_max_tokens:
            size = self.vocabulary_size()
            if self._frozen_vocab_size is not None and size != self._frozen_vocab_size:
                raise RuntimeError(
                    f"{self._label()}: with output_mode={self.output_mode!r} and pad_to_max_tokens=False the "
                    f"vocabulary size cannot change once set. Old vocab size is {self._frozen_vocab_size}, "
                    f"new vocab size is {size}"
                )
        self._frozen_vocab_size = self.vocabulary_size()

    # ---------------------------------------------------------------- adapt
    def _reset_counts(self):
        self._counts = collections.Counter()
        self._document_counts = collections.Counter()
        self._documents = 0

    def reset_state(self):
        """Forget what ``update_state`` counted (the vocabulary stays)."""
        if not self._has_input_vocabulary:
            self._reset_counts()

    def adapt(self, data, steps=None):
        """Learn the vocabulary (and the idf weights) from ``data``.

        ``data``: a list or array (each entry of a 1-D one is a document), or
        an iterable of batches (a generator, a PyDataset, a tf.data.Dataset),
        of which ``steps`` batches are read when given. Adapting starts afresh.
        """
        self.reset_state()
        if _is_batches(data):
            for step, batch in enumerate(data):
                if steps is not None and step >= steps:
                    break
                self.update_state(batch)
        else:
            batch = self._as_batch(data, "adapt")
            if len(batch.shape) == 1:
                batch.shape = (batch.shape[0], 1)  # each entry of a 1-D array is a document
            self._update(batch)
        self.finalize_state()

    def update_state(self, data):
        """Count the tokens of one batch (a 1-D batch is ONE document, as in Keras)."""
        self._update(data if isinstance(data, _Batch) else self._as_batch(data, "update_state"))

    def _update(self, batch):
        if self._has_input_vocabulary:
            raise ValueError(f"{self._label()}: cannot adapt a layer whose vocabulary was set by the "
                             "`vocabulary` argument or `set_vocabulary()`.")
        self._counts.update(batch.flat)
        if self.output_mode == "tf_idf":
            rows = batch.rows()
            for row in rows:
                self._document_counts.update(set(row))
            self._documents += len(rows)

    def finalize_state(self):
        """Turn the counts into the vocabulary: by count, ties by token in descending order, cut to max_tokens."""
        if self._has_input_vocabulary or not self._counts:
            self._record_vocabulary_size()
            return
        for special in (self.mask_token, self.oov_token):
            if special is not None:
                self._counts.pop(special, None)
        ranked = text_rules.rank_by_count(self._counts)
        if self.max_tokens:
            ranked = ranked[:self.max_tokens - self._token_start_index()]  # Python's slice, as Keras's
        start = self._token_start_index()
        self._tokens = ranked
        self._index = {token: start + position for position, token in enumerate(ranked)}
        if self.output_mode == "tf_idf":
            xp = backend.xp
            documents = xp.asarray([self._document_counts[token] for token in ranked], dtype="float64")
            idf = xp.log(1 + self._documents / (1 + documents)).astype(backend.floatx())
            mean = xp.mean(idf) if len(ranked) else xp.asarray(float("nan"), dtype=idf.dtype)
            parts = [xp.full(start, mean, dtype=idf.dtype), idf]
            if self.pad_to_max_tokens:
                parts.append(xp.zeros(max(self.max_tokens - start - len(ranked), 0), dtype=idf.dtype))
            self._idf = xp.concatenate(parts)
        self.reset_state()
        self._record_vocabulary_size()

    # ---------------------------------------------------------------- calls
    def _as_batch(self, values, what="call"):
        kind = "int" if (self.invert or self._vocabulary_kind == "int") else "string"
        array = text_rules.as_host_array(values, f"{self._label()} {what}", kind, getattr(self, "encoding", "utf-8"))
        return _Batch(array.reshape(-1).tolist(), array.shape)

    def _prepare_inputs(self, inputs):
        return self._as_batch(inputs)

    def _autocast(self, value):
        return value  # a model hands the inputs over as they are: strings or integers

    def _check_input(self, shapes):
        pass

    def _output_dtype(self, input_dtypes):
        if self.output_mode == "tf_idf":
            return backend.floatx()
        if self.invert:
            return "string" if self._vocabulary_kind == "string" else "int64"
        return "int64"

    def _bucket(self, value):
        """The OOV index of an unknown ``value`` when there are several."""
        if self._vocabulary_kind == "int" and self.oov_method == "floormod":
            return value % self.num_oov_indices  # Python's % is TensorFlow's floormod
        data = str(value).encode("utf-8") if self._vocabulary_kind == "int" else value.encode("utf-8")
        return text_rules.farmhash_fingerprint64(data) % self.num_oov_indices

    def _lookup(self, batch):
        """Each token's index (``_DROPPED`` for the mask token outside int mode); the inverse when ``invert``."""
        if self.invert:
            tokens = dict(enumerate(self._tokens, self._token_start_index()))
            mask = self.mask_token

            def invert(index):
                if mask is not None and index == 0:
                    return mask
                return tokens.get(index, self.oov_token)

            return batch.map(invert)
        mask_value = 0 if self.output_mode == "int" else _DROPPED
        oov_start, unknown = self._oov_start_index(), []

        def look_up(token):
            if self.mask_token is not None and token == self.mask_token:
                return mask_value
            index = self._index.get(token)
            if index is not None:
                return index
            if self.num_oov_indices == 0:
                unknown.append(token)
                return -1
            return oov_start if self.num_oov_indices == 1 else oov_start + self._bucket(token)

        indices = batch.map(look_up)
        if unknown:
            raise ValueError(f"{self._label()}: with num_oov_indices=0 every input must be in the vocabulary; "
                             f"found OOV values {unknown[:10]}. Consider num_oov_indices=1.")
        return indices

    def _depth(self):
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        if depth is None:
            raise RuntimeError(
                f"{self._label()}: with output_mode={self.output_mode!r} and pad_to_max_tokens=False, set the "
                "vocabulary before calling the layer: pass `vocabulary`, or call `adapt` on some data."
            )
        return depth

    def _encode(self, indices):
        """The lookups' indices as Keras's ``output_mode`` gives them."""
        xp = backend.xp
        if self.output_mode == "int":
            if self.invert and self._vocabulary_kind == "string":
                return text_rules.as_host_array(indices.flat, self._label()).reshape(indices.shape)
            return xp.asarray(indices.flat, dtype="int64").reshape(indices.shape)
        depth = self._depth()
        if self.output_mode == "one_hot":
            if indices.ragged:
                raise ValueError(
                    f"{self._label()}: output_mode='one_hot' after splitting gives one vector per token of "
                    "texts of different lengths (a ragged tensor in Keras), which course_lib does not have. "
                    "Use split=None, or output_mode='multi_hot' / 'count'."
                )
            return _one_hot(indices, depth, "int64")
        if self.output_mode == "tf_idf":
            counts = _bincount(self._label(), indices, depth, False, backend.floatx())
            if self._idf is None:
                raise ValueError(f"{self._label()}: output_mode='tf_idf' needs idf_weights: adapt the layer "
                                 "or pass idf_weights.")
            return counts * self._idf
        return _bincount(self._label(), indices, depth, self.output_mode == "multi_hot", "int64")

    def forward(self, inputs, training=False):
        batch = inputs if isinstance(inputs, _Batch) else self._as_batch(inputs)
        if self.output_mode != "int":
            self._depth()
            if batch.shape == ():
                batch.shape = (1,)  # as Keras: one value is a batch of one before it is encoded
        return self._encode(self._lookup(batch)), None

    def backward(self, output_grads, cache):
        raise _no_gradient(self._label(), "tokens")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self.output_mode == "int":
            return input_shape
        depth = self.max_tokens if self.pad_to_max_tokens else self._frozen_vocab_size
        if self.output_mode == "one_hot":
            if len(input_shape) > 1 and input_shape[-1] == 1:
                return input_shape[:-1] + (depth,)
            return input_shape + (depth,)
        return input_shape[:-1] + (depth,)

    # --------------------------------------------------------------- saving
    def save_own_variables(self, store):
        """The variables Keras writes into ``model.weights.h5``: the idf weights, under ``idf_weights``."""
        if self.output_mode == "tf_idf" and self._idf is not None:
            store["idf_weights"] = backend.to_numpy(self._idf)

    def load_own_variables(self, store):
        if self.output_mode == "tf_idf":
            if "idf_weights" not in store:
                raise ValueError(f"{self._label()}: the weights file has no 'idf_weights' for this tf_idf layer.")
            self._idf = backend.xp.asarray(store["idf_weights"], dtype=backend.floatx())

    def save_assets(self, dir_path):
        """Write the vocabulary (special tokens included) to ``vocabulary.txt``, as Keras does, unless it is in the config."""
        if self.input_vocabulary is not None:
            return
        with open(os.path.join(dir_path, "vocabulary.txt"), "w", encoding="utf-8") as handle:
            handle.write("\n".join(str(token) for token in self.get_vocabulary(include_special_tokens=True)))

    def load_assets(self, dir_path):
        if self.input_vocabulary is not None:
            return
        path = os.path.join(dir_path, "vocabulary.txt")
        if not os.path.exists(path):
            raise ValueError(f"{self._label()}: the model file has no vocabulary for this layer ({path!r}).")
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
        while lines and lines[-1] == "":
            lines.pop()
        values = [int(line) for line in lines] if self._vocabulary_kind == "int" else lines
        if not values:
            return
        has_input = self._has_input_vocabulary
        self.set_vocabulary(values, idf_weights=backend.to_numpy(self._idf) if self.output_mode == "tf_idf" else None)
        self._has_input_vocabulary = has_input

    def get_config(self):
        config = {
            "invert": self.invert, "max_tokens": self.max_tokens, "num_oov_indices": self.num_oov_indices,
            "oov_token": self.oov_token, "mask_token": self.mask_token, "output_mode": self.output_mode,
            "sparse": self.sparse, "pad_to_max_tokens": self.pad_to_max_tokens,
            "vocabulary_dtype": self.vocabulary_dtype,
            "idf_weights": None if self.input_idf_weights is None else self._list(self.input_idf_weights),
            "vocabulary": None if self.input_vocabulary is None else self._host_tokens(self.input_vocabulary),
            "vocabulary_size": self._frozen_vocab_size, "oov_method": self.oov_method, "salt": self.salt,
        }
        return {**super().get_config(), **config}

    def get_build_config(self):
        return {}  # as Keras: a lookup builds from nothing


class StringLookup(_IndexLookup):
    """Strings to indices (字符串查找): ``keras.layers.StringLookup``.

    >>> layer = StringLookup(vocabulary=["a", "b", "c"])
    >>> layer([["a", "c"], ["d", "b"]])
    array([[1, 3],
           [0, 2]])

    Args:
        max_tokens: None or an int > 1: the most indices (mask and OOV included) ``adapt`` keeps.
        num_oov_indices: how many indices unknown strings share (hashed with FarmHash64 when > 1); 0 makes
            them an error.
        mask_token: None, or a string that maps to 0 in ``"int"`` mode and is dropped in the others.
        oov_token: what ``invert`` gives for an unknown index (``"[UNK]"``).
        vocabulary: None, a list/array of strings, or the path of a text file with one a line.
        idf_weights: with ``output_mode="tf_idf"`` and a ``vocabulary``: one weight per entry.
        invert: map indices back to strings.
        output_mode: ``"int"``, ``"one_hot"``, ``"multi_hot"``, ``"count"`` or ``"tf_idf"``.
        pad_to_max_tokens: in the vector modes, make the vectors ``max_tokens`` long.
        sparse: only False (course_lib has no sparse tensors).
        encoding: how bytes inputs are decoded.

    Input: strings of any shape (integers with ``invert``). Output: int64
    indices of the same shape; vectors ``(batch, vocabulary_size)`` in the
    vector modes (a last axis of 1 is replaced in ``"one_hot"``).
    """

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token="[UNK]", vocabulary=None,
                 idf_weights=None, invert=False, output_mode="int", pad_to_max_tokens=False, sparse=False,
                 encoding="utf-8", name=None, salt=None, **kwargs):
        kwargs.pop("vocabulary_dtype", None)  # written by Keras 3 releases before 3.4
        self.encoding = encoding
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, idf_weights=idf_weights, invert=invert,
                         output_mode=output_mode, pad_to_max_tokens=pad_to_max_tokens, sparse=sparse, name=name,
                         salt=salt, vocabulary_dtype="string", **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["vocabulary_dtype"]  # as Keras: strings have one type
        return {**config, "encoding": self.encoding}


class IntegerLookup(_IndexLookup):
    """Integers to indices (整数查找): ``keras.layers.IntegerLookup``.

    >>> layer = IntegerLookup(vocabulary=[12, 36, 1138])
    >>> layer([[12, 1138], [42, 36]])
    array([[1, 3],
           [0, 2]])

    Args:
        max_tokens, num_oov_indices, vocabulary, idf_weights, invert, output_mode, pad_to_max_tokens, sparse:
            as :class:`StringLookup`'s.
        mask_token: None, or an int that maps to 0 in ``"int"`` mode and is dropped in the others.
        oov_token: what ``invert`` gives for an unknown index (-1).
        vocabulary_dtype: only ``"int64"``, as in Keras.
        oov_method: several OOV indices are chosen by ``value % num_oov_indices`` (``"floormod"``) or by
            FarmHash64 of the decimal string (``"farmhash"``).
    """

    _vocabulary_kind = "int"

    def __init__(self, max_tokens=None, num_oov_indices=1, mask_token=None, oov_token=-1, vocabulary=None,
                 vocabulary_dtype="int64", idf_weights=None, invert=False, output_mode="int", sparse=False,
                 pad_to_max_tokens=False, oov_method="floormod", salt=None, name=None, **kwargs):
        if vocabulary_dtype != "int64":
            raise ValueError(f"IntegerLookup: only vocabulary_dtype='int64' is supported. "
                             f"Received: vocabulary_dtype={vocabulary_dtype!r}")
        super().__init__(max_tokens=max_tokens, num_oov_indices=num_oov_indices, mask_token=mask_token,
                         oov_token=oov_token, vocabulary=vocabulary, vocabulary_dtype=vocabulary_dtype,
                         idf_weights=idf_weights, invert=invert, output_mode=output_mode, sparse=sparse,
                         pad_to_max_tokens=pad_to_max_tokens, oov_method=oov_method, salt=salt, name=name, **kwargs)


# ------------------------------------------------------------ TextVectorization
class TextVectorization(Layer):
    """Texts to token indices or vectors (文本向量化): ``keras.layers.TextVectorization``.

    Each text is standardised, split into tokens, optionally turned into
    n-grams, then looked up in a vocabulary where index 0 is padding (the
    empty string) and 1 is ``"[UNK]"`` in ``"int"`` mode (in the vector modes
    ``"[UNK]"`` is index 0 and there is no padding entry).

    >>> layer = TextVectorization(output_sequence_length=4)
    >>> layer.adapt(["The cat sat.", "the dog sat", "A cat!"])
    >>> layer.get_vocabulary()
    ['', '[UNK]', 'the', 'sat', 'cat', 'dog', 'a']
    >>> layer(["the cat ran"])
    array([[2, 4, 1, 0]])

    Args:
        max_tokens: None or an int > 1: the size of the vocabulary, padding and ``[UNK]`` included.
        standardize: None, ``"lower_and_strip_punctuation"``, ``"lower"``, ``"strip_punctuation"``, or a
            function ``str -> str`` (see :func:`course_lib.preprocessing.text.standardize`).
        split: None (the whole text is one token), ``"whitespace"``, ``"character"`` or a function
            ``str -> list of str``.
        ngrams: None, an int ``n`` (all n-grams from 1 to n) or a tuple of widths.
        output_mode: ``"int"``, ``"multi_hot"``, ``"count"``, ``"tf_idf"`` (or ``"one_hot"`` with split=None).
        output_sequence_length: in ``"int"`` mode, pad with 0 or cut at the end to this length
            (None: the longest text of the batch).
        pad_to_max_tokens: in the vector modes, make the vectors ``max_tokens`` long.
        vocabulary: None, a list of tokens, or the path of a text file with one token a line.
        idf_weights: with ``output_mode="tf_idf"`` and a ``vocabulary``: one weight per entry.
        sparse, ragged: only False (course_lib has no sparse or ragged tensors).
        encoding: how bytes inputs are decoded.

    Input: strings ``(batch,)`` or ``(batch, 1)`` (or one string). Output:
    int64 ``(batch, length)`` in ``"int"`` mode; ``(batch, vocabulary_size)``
    int64 counts (float32 for ``"tf_idf"``) in the vector modes.
    """

    differentiable = False

    def __init__(self, max_tokens=None, standardize="lower_and_strip_punctuation", split="whitespace", ngrams=None,
                 output_mode="int", output_sequence_length=None, pad_to_max_tokens=False, vocabulary=None,
                 idf_weights=None, sparse=False, ragged=False, encoding="utf-8", name=None, **kwargs):
        where = "TextVectorization"
        if not (standardize is None or callable(standardize) or standardize in _STANDARDIZE):
            raise ValueError(f"{where}: standardize must be None, one of {_STANDARDIZE} or a function str -> str. "
                             f"Received: standardize={standardize!r}")
        if not (split is None or callable(split) or split in _SPLIT):
            raise ValueError(f"{where}: split must be None, one of {_SPLIT} or a function str -> list of str. "
                             f"Received: split={split!r}")
        output_mode = _output_mode(where, output_mode)
        if not (ngrams is None or _is_int(ngrams)
                or (isinstance(ngrams, tuple) and all(_is_int(item) for item in ngrams))):
            raise ValueError(f"{where}: ngrams must be None, an int or a tuple of ints. Received: ngrams={ngrams!r}")
        if output_mode == "int" and not (output_sequence_length is None or
                                         (_is_int(output_sequence_length) and output_sequence_length >= 0)):
            raise ValueError(f"{where}: output_sequence_length must be None or an int >= 0 in output_mode='int'. "
                             f"Received: output_sequence_length={output_sequence_length!r}")
        if output_mode != "int" and output_sequence_length is not None:
            raise ValueError(f"{where}: output_sequence_length is only for output_mode='int'. "
                             f"Received: output_sequence_length={output_sequence_length!r}")
        _refuse_sparse(where, sparse, ragged)
        has_input_vocabulary = kwargs.pop("has_input_vocabulary", vocabulary is not None)
        vocabulary_size = kwargs.pop("vocabulary_size", None)
        super().__init__(name=name, **kwargs)
        self._standardize = standardize
        self._split = split
        self._ngrams_arg = ngrams
        self._ngrams = tuple(range(1, ngrams + 1)) if _is_int(ngrams) else ngrams
        self._output_mode = output_mode
        self._output_sequence_length = output_sequence_length
        self._encoding = encoding
        self._has_input_vocabulary = has_input_vocabulary
        self._lookup_layer = StringLookup(
            max_tokens=max_tokens, vocabulary=vocabulary, idf_weights=idf_weights,
            pad_to_max_tokens=pad_to_max_tokens, mask_token="", output_mode=output_mode,
            has_input_vocabulary=has_input_vocabulary, encoding=encoding, vocabulary_size=vocabulary_size,
            _owner=(where, self.name),  # its errors name this layer
        )

    # ------------------------------------------------------------ vocabulary
    def get_vocabulary(self, include_special_tokens=True):
        """The tokens by index: ``["", "[UNK]", most frequent, ...]`` in ``"int"`` mode."""
        return self._lookup_layer.get_vocabulary(include_special_tokens)

    def vocabulary_size(self):
        """The number of indices, padding and ``[UNK]`` included."""
        return self._lookup_layer.vocabulary_size()

    def set_vocabulary(self, vocabulary, idf_weights=None):
        """Set the vocabulary (and the idf weights in ``"tf_idf"`` mode): see :meth:`StringLookup.set_vocabulary`."""
        self._lookup_layer.set_vocabulary(vocabulary, idf_weights=idf_weights)

    def adapt(self, data, batch_size=None, steps=None):
        """Learn the vocabulary from texts: a list or array of str, or an iterable of batches of them.

        Adapting starts afresh; the tokens are ranked by count, ties by the
        token in descending order, as Keras ranks them.
        """
        self.reset_state()
        if _is_batches(data):
            for step, batch in enumerate(data):
                if steps is not None and step >= steps:
                    break
                self.update_state(batch)
        else:
            self.update_state(data)
        self.finalize_state()

    def update_state(self, data):
        self._lookup_layer.update_state(self._preprocess(data, "adapt"))

    def finalize_state(self):
        self._lookup_layer.finalize_state()

    def reset_state(self):
        self._lookup_layer.reset_state()

    # ---------------------------------------------------------------- calls
    def _label(self):
        return f"TextVectorization '{self.name}'"

    def _standardized(self, text):
        if self._standardize is None:
            return text
        if callable(self._standardize):
            result = self._standardize(text)
            if not isinstance(result, str):
                raise TypeError(f"{self._label()}: the standardize function must return a str. "
                                f"Received: {type(result).__name__} {result!r:.60}")
            return result
        return text_rules.standardize(text, self._standardize)

    def _tokens(self, text):
        if self._split == "whitespace":
            return text_rules.split_whitespace(text)
        if self._split == "character":
            return list(text)
        tokens = list(self._split(text))
        bad = next((token for token in tokens if not isinstance(token, str)), None)
        if bad is not None:
            raise TypeError(f"{self._label()}: the split function must return a list of str. "
                            f"Received: an element {bad!r:.60} of type {type(bad).__name__}")
        return tokens

    def _preprocess(self, inputs, what="call"):
        """Standardise, split and n-gram: a ragged :class:`_Batch` of tokens after a split, a dense one without."""
        if isinstance(inputs, _Batch):
            return inputs
        array = text_rules.as_host_array(inputs, f"{self._label()} {what}", "string", self._encoding)
        texts = [self._standardized(text) for text in array.reshape(-1).tolist()]
        shape = array.shape
        if self._split is None:
            if self._ngrams and len(shape) >= 1:
                rows = _Batch(texts, shape).rows() if len(shape) > 1 else [texts]
                rows = [text_rules.ngrams(row, self._ngrams) for row in rows]
                shape = (len(rows[0]),) if len(shape) == 1 else (shape[0], len(rows[0]) if rows else 0)
                texts = [token for row in rows for token in row]
            return _Batch(texts, shape)
        if len(shape) > 1:
            if shape[-1] != 1:
                raise ValueError(
                    f"{self._label()}: to split texts the input must have rank 1 or a last axis of size 1. "
                    f"Received: input with shape {shape}"
                )
            shape = shape[:-1]
        if len(shape) > 1:
            raise ValueError(f"{self._label()}: expected texts of shape (batch,) or (batch, 1) (course_lib has "
                             f"no ragged tensors of higher rank). Received: input with shape {array.shape}")
        rows = [self._tokens(text) for text in texts]
        if self._ngrams:
            rows = [text_rules.ngrams(row, self._ngrams) for row in rows]
        if not shape:  # one text: its tokens, a dense 1-D array (as tf.strings.split of a scalar)
            return _Batch(rows[0], (len(rows[0]),))
        return _Batch([token for row in rows for token in row], lengths=[len(row) for row in rows])

    def _prepare_inputs(self, inputs):
        return text_rules.as_host_array(inputs, f"{self._label()} call", "string", self._encoding)

    def _autocast(self, value):
        return value

    def _check_input(self, shapes):
        pass

    def _output_dtype(self, input_dtypes):
        return backend.floatx() if self._output_mode == "tf_idf" else "int64"

    def build(self, input_shape=None):
        self.built = True

    def forward(self, inputs, training=False):
        lookup = self._lookup_layer
        if self._output_mode != "int":
            lookup._depth()
        tokens = self._preprocess(inputs)
        if self._output_mode != "int":
            return lookup._encode(lookup._lookup(tokens)), None
        indices = lookup._lookup(tokens)
        xp = backend.xp
        length = self._output_sequence_length
        if indices.ragged:
            if length is None:
                length = max(indices.lengths, default=0)
            rows = indices.rows()
            flat = [index for row in rows for index in row[:length] + [0] * (length - len(row[:length]))]
            return xp.asarray(flat, dtype="int64").reshape(len(rows), length), None
        outputs = xp.asarray(indices.flat, dtype="int64").reshape(indices.shape)
        if length is not None and outputs.ndim >= 1:
            outputs = outputs[..., :length]
            if outputs.shape[-1] < length:
                padding = xp.zeros(outputs.shape[:-1] + (length - outputs.shape[-1],), dtype="int64")
                outputs = xp.concatenate([outputs, padding], axis=-1)
        return outputs, None

    def backward(self, output_grads, cache):
        raise _no_gradient(self._label(), "texts")

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if self._output_mode == "int":
            return (input_shape[0], self._output_sequence_length)
        if self._split is None:
            if len(input_shape) <= 1:
                input_shape = input_shape + (1,)
        else:
            input_shape = input_shape + (None,)
        return self._lookup_layer.compute_output_shape(input_shape)

    # --------------------------------------------------------------- saving
    def saving_children(self):
        # As Keras's files: the StringLookup inside has its own group ("_lookup_layer") in the weights and assets.
        return [("_lookup_layer", self._lookup_layer)]

    def save_own_variables(self, store):
        self._lookup_layer.save_own_variables(store)

    def load_own_variables(self, store):
        self._lookup_layer.load_own_variables(store)

    def save_assets(self, dir_path):
        self._lookup_layer.save_assets(dir_path)

    def load_assets(self, dir_path):
        self._lookup_layer.load_assets(dir_path)

    def get_config(self):
        lookup = self._lookup_layer
        config = {
            "max_tokens": lookup.max_tokens, "standardize": self._standardize, "split": self._split,
            "ngrams": self._ngrams_arg, "output_mode": self._output_mode,
            "output_sequence_length": self._output_sequence_length, "pad_to_max_tokens": lookup.pad_to_max_tokens,
            "sparse": False, "ragged": False,
            "vocabulary": None if lookup.input_vocabulary is None else lookup._host_tokens(lookup.input_vocabulary),
            "idf_weights": None if lookup.input_idf_weights is None else lookup._list(lookup.input_idf_weights),
            "encoding": self._encoding, "vocabulary_size": self.vocabulary_size(),
        }
        return {**super().get_config(), **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("standardize", "split"):
            if isinstance(config.get(key), dict):
                config[key] = _registered_function(key, config[key])
        if isinstance(config.get("ngrams"), list):
            config["ngrams"] = tuple(config["ngrams"])
        return cls(**config)


def _registered_function(argument, entry):
    """A function Keras serialized into a config (``{"class_name": "function", ...}``), found among the registered ones."""
    from course_lib import saving

    registered = saving.registered_objects()
    for key in (entry.get("registered_name"), entry.get("config")):
        if key in registered:
            return registered[key]
    raise ValueError(
        f"TextVectorization.from_config: {argument} is the function {entry.get('config')!r}, which is not "
        "registered: decorate it with keras.saving.register_keras_serializable(), or pass the function itself."
    )


# ------------------------------------------------------------- CategoryEncoding
class CategoryEncoding(Layer):
    """Integer categories to vectors (类别编码): ``keras.layers.CategoryEncoding``.

    >>> CategoryEncoding(num_tokens=4, output_mode="multi_hot")([[0, 1], [0, 0], [1, 2], [3, 1]])
    array([[1., 1., 0., 0.],
           [1., 0., 0., 0.],
           [0., 1., 1., 0.],
           [0., 1., 0., 1.]], dtype=float32)

    Args:
        num_tokens: the number of categories: inputs lie in ``[0, num_tokens)`` (larger ones are dropped,
            as Keras's bincount drops them; negative ones are an error).
        output_mode: ``"one_hot"`` (one vector per value; a last axis of 1 is replaced), ``"multi_hot"`` (one
            vector per sample, 1 where a category occurs) or ``"count"`` (how often).
        sparse: only False (course_lib has no sparse tensors).

    Call: ``layer(inputs, count_weights=None)``; ``count_weights`` (``"count"``
    mode only, the inputs' shape) adds those weights instead of ones.

    Output: float32 (the layer's dtype), ``(batch, num_tokens)`` for a batch of samples.
    """

    differentiable = False
    keeps_integers = True  # categories stay integers until they are encoded

    def __init__(self, num_tokens=None, output_mode="multi_hot", sparse=False, **kwargs):
        where = "CategoryEncoding"
        output_mode = _output_mode(where, output_mode, ("count", "one_hot", "multi_hot"))
        if num_tokens is None:
            raise ValueError(f"{where}: num_tokens must be set. If the number of categories is not known "
                             "beforehand, use IntegerLookup instead.")
        if not _is_int(num_tokens) or num_tokens < 1:
            raise ValueError(f"{where}: num_tokens must be an int >= 1. Received: num_tokens={num_tokens!r}")
        _refuse_sparse(where, sparse)
        super().__init__(**kwargs)
        self.num_tokens = num_tokens
        self.output_mode = output_mode
        self.sparse = False

    def __call__(self, inputs, count_weights=None, training=None, mask=None, **kwargs):
        if count_weights is None:
            return super().__call__(inputs, training=training, mask=mask, **kwargs)
        if _is_symbolic(inputs) or _is_symbolic(count_weights):
            raise TypeError(f"CategoryEncoding '{self.name}': count_weights is only accepted when called on arrays.")
        if self.output_mode != "count":
            raise ValueError(f"CategoryEncoding '{self.name}': count_weights is only used in output_mode='count'. "
                             f"Received: output_mode={self.output_mode!r}")
        weights = backend.to_array(count_weights, self.dtype, f"CategoryEncoding '{self.name}' count_weights")
        values = self._prepare_inputs(inputs)
        if weights.shape != values.shape:
            raise ValueError(f"CategoryEncoding '{self.name}': count_weights must have the inputs' shape "
                             f"{tuple(values.shape)}. Received: count_weights with shape {tuple(weights.shape)}")
        self._maybe_build(tuple(values.shape))
        return self._encode(values, weights)

    def _prepare_inputs(self, inputs):
        # One array of categories (a Python list is that array, not a list of inputs).
        return self._autocast(backend.as_numeric(inputs, f"CategoryEncoding '{self.name}'"))

    def _encode(self, values, weights=None):
        xp = backend.xp
        values = values.astype("int64")
        if values.ndim == 0:
            values = values.reshape(1)
            weights = None if weights is None else weights.reshape(1)
        if self.output_mode == "one_hot":
            shape = values.shape[:-1] if values.ndim > 1 and values.shape[-1] == 1 else values.shape
            return (values.reshape(shape)[..., None] == xp.arange(self.num_tokens, dtype="int64")).astype(self.dtype)
        return _bincount_array(f"CategoryEncoding '{self.name}'", values, self.num_tokens,
                               self.output_mode == "multi_hot", self.dtype, weights)

    def forward(self, inputs, training=False):
        return self._encode(inputs), None

    def backward(self, output_grads, cache):
        raise TypeError(
            f"CategoryEncoding '{self.name}' is a preprocessing layer: it counts integer categories, so no "
            "gradient flows through it. Put it before the layers you train."
        )

    def _output_dtype(self, input_dtypes):
        return self.dtype

    def compute_output_shape(self, input_shape):
        input_shape = tuple(input_shape)
        if not input_shape:
            return (self.num_tokens,)
        if self.output_mode == "one_hot" and (input_shape[-1] != 1 or len(input_shape) == 1):
            return input_shape + (self.num_tokens,)
        return input_shape[:-1] + (self.num_tokens,)

    def get_config(self):
        # As Keras 3.15: `sparse` is not in the config.
        return {**super().get_config(), "num_tokens": self.num_tokens, "output_mode": self.output_mode}


def _bincount_array(where, values, depth, binary, dtype, weights):
    """:func:`_bincount` for an array of the array module (CategoryEncoding's inputs stay on the device)."""
    xp = backend.xp
    if values.ndim > 2:
        raise ValueError(
            f"{where}: in output_mode 'multi_hot' and 'count' the input must have rank 1 or 2 (course_lib "
            f"follows Keras's bincount, which counts along the last axis). Received: input with shape "
            f"{tuple(values.shape)}"
        )
    if bool(backend.to_numpy(xp.any(values < 0))):
        raise ValueError(f"{where}: the category indices must be >= 0. Received: a negative index among "
                         f"{backend.to_numpy(values).reshape(-1)[:20].tolist()}")
    rows_count = 1 if values.ndim == 1 else values.shape[0]
    width = values.shape[-1]
    rows = xp.repeat(xp.arange(rows_count, dtype="int64"), width)
    flat = values.reshape(-1)
    keep = flat < depth
    positions = rows[keep] * depth + flat[keep]
    flat_weights = None if weights is None else weights.reshape(-1)[keep].astype("float64")
    counts = xp.bincount(positions, weights=flat_weights, minlength=rows_count * depth)
    if binary:
        counts = xp.minimum(counts, 1)
    counts = counts.astype(dtype).reshape(rows_count, depth)
    return counts[0] if values.ndim == 1 else counts
