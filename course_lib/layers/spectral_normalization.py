"""SpectralNormalization (谱归一化): a wrapper that divides a layer's kernel by its largest singular value.

Used in GAN discriminators to bound the layer's Lipschitz constant
(Miyato et al., 2018). As in Keras, the normalisation is an *update of the
weights*, not a differentiable part of the layer: in training, every call

1. runs ``power_iterations`` steps of the power method on the kernel
   reshaped to ``(-1, units)``, starting from the non-trainable vector ``u``::

       v = normalize(u @ W.T);  u = normalize(v @ W)
       sigma = v @ W @ u.T

2. writes the new ``u`` and ``kernel / sigma`` into the weights (in place),
3. runs the wrapped layer with the normalised kernel.

So the gradient of the kernel is the wrapped layer's gradient at the
normalised kernel (TensorFlow's ``assign`` has no gradient: nothing flows
through ``sigma``), and in inference the layer is the wrapped layer itself.
A kernel of zeros only is left unchanged (as Keras's ``ops.cond``).
"""
from __future__ import annotations

from course_lib import backend, initializers
from course_lib.layers.base import InputSpec
from course_lib.layers.wrappers import Wrapper


def _l2_normalize(x):
    """Keras's ``ops.normalize(x, axis=None)``: ``x * min(1 / ||x||, 1 / epsilon)``."""
    xp = backend.xp
    floor = x.dtype.type(backend.epsilon() ** 2)  # min(1 / ||x||, 1 / eps) = 1 / sqrt(max(||x||^2, eps^2))
    return x / xp.sqrt(xp.maximum(xp.sum(x * x), floor))


def power_iteration(kernel, vector_u, power_iterations):
    """Keras's ``normalized_weights``: ``(new_u, kernel / sigma)``.

    Args:
        kernel: the wrapped layer's kernel, any shape ``(..., units)``.
        vector_u: ``(1, units)``, the last estimate of the first right singular vector.
        power_iterations: how many steps of the power method (>= 1).

    Returns:
        ``(vector_u, kernel)``: the new estimate and the kernel divided by the
        estimated largest singular value ``sigma = v @ W @ u.T``.
    """
    weights = kernel.reshape(-1, kernel.shape[-1])
    u = vector_u
    for _ in range(power_iterations):
        v = _l2_normalize(u @ weights.T)
        u = _l2_normalize(v @ weights)
    sigma = (v @ weights) @ u.T  # (1, 1)
    return u.astype(vector_u.dtype), (kernel / sigma).astype(kernel.dtype)


class SpectralNormalization(Wrapper):
    """Performs spectral normalization on the weights of a target layer (谱归一化).

    Args:
        layer: a layer instance with a ``kernel`` (Dense, Conv1D/2D/3D,
            Conv*Transpose ...) or an ``embeddings`` weight (Embedding).
        power_iterations: int >= 1, the steps of the power method per training call.
        **kwargs: the base layer's arguments (``name``, ``trainable``, ``dtype`` ...).

    Call arguments:
        inputs: what the wrapped layer takes (at least 1-D; the last axis is
            fixed at build, as Keras's input spec).
        training: only a training call updates ``vector_u`` and normalises the
            kernel; an inference call is the wrapped layer unchanged.

    Weights (Keras's names and order): the wrapped layer's ``kernel`` (or
    ``embeddings``), then the non-trainable ``vector_u`` of shape
    ``(1, kernel.shape[-1])`` (initialised ``TruncatedNormal(stddev=0.02)``),
    then the wrapped layer's other weights (``bias``). The kernel is the
    wrapped layer's own Variable (the same array); files keep ``kernel`` and
    ``vector_u`` in the wrapper's group and the wrapped layer's weights under
    ``layer/``, as Keras does.

    Gradients: those of the wrapped layer at the (normalised) kernel it ran
    with; ``vector_u`` gets none.

    Differs from Keras on purpose: Keras casts the outputs to the inputs'
    dtype, so a wrapped ``Embedding`` fed integer ids returns integers
    (truncated embeddings, mostly zeros); here the outputs keep the wrapped
    layer's dtype.
    """

    def __init__(self, layer, power_iterations=1, **kwargs):
        super().__init__(layer, **kwargs)
        if isinstance(power_iterations, bool) or not isinstance(power_iterations, int):
            raise TypeError(
                f"SpectralNormalization: `power_iterations` must be an int. Received: "
                f"power_iterations={power_iterations!r} (of type {type(power_iterations).__name__})"
            )
        if power_iterations <= 0:
            raise ValueError(
                "SpectralNormalization: `power_iterations` should be greater than zero. Received: "
                f"`power_iterations={power_iterations}`"
            )
        self.power_iterations = power_iterations
        self._kernel_name = None

    # ------------------------------------------------------------ building
    def build(self, input_shape):
        if isinstance(input_shape, list) or len(tuple(input_shape)) < 1:
            raise ValueError(
                f"SpectralNormalization '{self.name}': expected one input of at least 1 dimension "
                f"(batch, ..., features). Received: input_shape={input_shape}"
            )
        input_shape = tuple(input_shape)
        if not self.layer.built:
            self.layer._maybe_build(input_shape)
        self.input_spec = InputSpec(min_ndim=1, axes={-1: input_shape[-1]})
        variables = self.layer._variables
        name = "kernel" if "kernel" in variables else "embeddings" if "embeddings" in variables else None
        if name is None:
            raise ValueError(
                f"SpectralNormalization '{self.name}': {type(self.layer).__name__} object has no attribute "
                f"'kernel' nor 'embeddings': wrap a layer with a kernel (Dense, a convolution) or an "
                f"Embedding. Received: layer={self.layer.name!r} with weights {sorted(variables)}"
            )
        self._kernel_name = name
        self.kernel = variables[name]
        # The wrapper's weights: the wrapped layer's (the same Variables and arrays) plus vector_u.
        # Copies of the dicts, so that vector_u stays the wrapper's own.
        self._params, self._variables = dict(self.layer._params), dict(self.layer._variables)
        self._trainable_names = list(self.layer._trainable_names)
        self.vector_u = self.add_weight(
            "vector_u", (1, self.kernel.shape[-1]), initializers.TruncatedNormal(stddev=0.02),
            trainable=False, dtype=self.kernel.dtype,
        )
        self.built = True

    def _check_input(self, shapes):
        if not isinstance(shapes, list) and len(tuple(shapes)) < 1:
            raise ValueError(
                f"SpectralNormalization '{self.name}': expected inputs of at least 1 dimension. "
                f"Received: input with shape {tuple(shapes)}"
            )
        super()._check_input(shapes)

    @property
    def weights(self):
        """Keras's order: the kernel, ``vector_u``, then the wrapped layer's other weights."""
        return [self._variables[name] for name in self.weight_names]

    @property
    def weight_names(self):
        if not self.built:
            return []
        rest = [name for name in self.layer.weight_names if name != self._kernel_name]
        return [self._kernel_name, "vector_u"] + rest

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    # ---------------------------------------------------- forward/backward
    def normalized_weights(self):
        """``(new vector_u, normalised kernel)`` from the current weights (Keras's method), not assigned."""
        return power_iteration(self.kernel.value, self.vector_u.value, self.power_iterations)

    def forward(self, inputs, training=False):
        snapshot = None
        if training:
            if bool(backend.to_float(backend.xp.any(self.kernel.value != 0))):
                vector_u, kernel = self.normalized_weights()
                self.vector_u.assign(vector_u)
                self.kernel.assign(kernel)
            # A later training call (a GAN's discriminator on real, then fake images) normalises the
            # kernel again in place; backward runs with the kernel this call used, as TensorFlow's does.
            snapshot = self.kernel.value.copy()
        outputs, cache = self.layer.forward(self.layer._autocast(inputs), training=training)
        return outputs, (cache, snapshot)

    def _with_kernel(self, snapshot, run):
        if snapshot is None:
            return run()
        current = self.kernel.value.copy()
        self.kernel.assign(snapshot)
        try:
            return run()
        finally:
            self.kernel.assign(current)

    def backward(self, output_grads, cache):
        inner, snapshot = cache
        return self._with_kernel(snapshot, lambda: self.layer.backward(output_grads, inner))

    def weight_gradients(self, output_grads, cache):
        inner, snapshot = cache
        return self._with_kernel(snapshot, lambda: self.layer.weight_gradients(output_grads, inner))

    # The engine's logits protocol, delegated: Keras's wrapper returns the wrapped layer's output
    # itself, so its `_keras_logits` (a Dense with a sigmoid, in a GAN's discriminator) reach the loss.
    def output_logits_activation(self):
        hook = getattr(self.layer, "output_logits_activation", None)
        return None if hook is None else hook()

    def pre_activation(self, cache):
        return self.layer.pre_activation(cache[0])

    def logits_gradient(self, output_grads, cache):
        inner, snapshot = cache
        return self._with_kernel(snapshot, lambda: self.layer.logits_gradient(output_grads, inner))

    def backward_from_logits(self, dpre, cache, need_dx=True):
        inner, snapshot = cache
        return self._with_kernel(snapshot, lambda: self.layer.backward_from_logits(dpre, inner, need_dx))

    # ------------------------------------------------------------ saving
    def save_own_variables(self, store):
        # Keras tracks the kernel as the wrapper's own variable too: vars/0 = kernel, vars/1 = vector_u.
        store["0"] = self.kernel.value
        store["1"] = self.vector_u.value

    def load_own_variables(self, store):
        if set(store) != {"0", "1"}:
            raise ValueError(
                f"SpectralNormalization '{self.name}': expected the variables '0' (kernel) and '1' "
                f"(vector_u) in the file. Received: {sorted(store)}"
            )
        self.kernel.assign(store["0"])
        self.vector_u.assign(store["1"])

    def get_config(self):
        return {**super().get_config(), "power_iterations": self.power_iterations}
