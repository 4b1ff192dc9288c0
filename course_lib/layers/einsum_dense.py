"""EinsumDense: a dense layer written as one einsum, forward and backward side by side.

``y = activation(einsum(equation, x, kernel) + bias)``. The equation is read as
Keras reads it (``ab,bc->ac``, ``...ab,bc->...ac`` or ``ab...,bc->ac...``), which
fixes the kernel's shape from the input's and the given ``output_shape``, and
``bias_axes`` the bias's. Once the input's rank is known the ellipsis is spelled
out in letters, so the backward pass is two more einsums with the roles swapped:

- ``dx = einsum('out,kernel->in', dy, kernel)`` (broadcast along any input axis
  that the product sums away on its own, e.g. ``b`` in ``abc,cd->ad``);
- ``dkernel = einsum('in,out->kernel', x, dy)``;
- ``dbias``: ``dy`` summed down to the bias's shape.
"""
from __future__ import annotations

import re
import string

from course_lib import backend, initializers
from course_lib.layers.base import InputSpec
from course_lib.layers.core import KernelLayer, _not_yet_supported


def analyze_einsum_string(equation, bias_axes, input_shape, output_shape):
    """Keras's reading of an EinsumDense equation (``_analyze_einsum_string``).

    Args:
        equation: ``'[X],[Y]->[Z]'``, ``'...[X],[Y]->...[Z]'`` or ``'[X]...,[Y]->[Z]...'``.
        bias_axes: None or a string of output letters that get a bias.
        input_shape: the input's shape, batch axis first.
        output_shape: the output's shape without the batch axis and the elided axes
            (None entries are taken from the input).

    One difference, deliberate: two or more axes elided on the left keep the
    input's order in ``full_output_shape`` (Keras 3.15 lists them reversed there,
    though its layer's output has them in order).

    Returns:
        ``(kernel_shape, bias_shape, full_output_shape, input_axes, output_axes)``:
        ``bias_shape`` is None without ``bias_axes``; ``input_axes`` / ``output_axes``
        are the kernel's axes that count as fan-in / fan-out for the initializer.

    Raises:
        ValueError: for an equation of another form, or shapes that do not fit it.
    """
    dot_replaced = re.sub(r"\.\.\.", "0", equation)
    split = re.match("([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape)
    split = re.match("0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided=True)
    split = re.match("([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0", dot_replaced)
    if split:
        return _analyze_split_string(split, bias_axes, input_shape, output_shape)
    raise ValueError(
        f"EinsumDense: invalid einsum equation '{equation}'. Equations must be in the form "
        "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]...."
    )


def _analyze_split_string(split, bias_axes, input_shape, output_shape, left_elided=False):
    input_spec, weight_spec, output_spec = split.group(1), split.group(2), split.group(3)
    input_shape = list(input_shape)
    elided = len(input_shape) - len(input_spec)
    output_shape = [output_shape] if isinstance(output_shape, int) else list(output_shape)
    output_shape.insert(0, input_shape[0])
    if elided > 0 and left_elided:
        for i in range(1, elided):
            # After the batch axis, in the input's order (Keras 3.15 inserts each at 1, which reverses
            # two or more of them in its symbolic shape, though not in its output).
            output_shape.insert(i, input_shape[i])
    elif elided > 0 and not left_elided:
        for i in range(len(input_shape) - elided, len(input_shape)):
            output_shape.append(input_shape[i])
    if left_elided:
        # Letters count from the right of the input and after the elided axes in the output.
        input_dim_map = {dim: (i + elided) - len(input_shape) for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i + elided for i, dim in enumerate(output_spec)}
    else:
        input_dim_map = {dim: i for i, dim in enumerate(input_spec)}
        output_dim_map = {dim: i for i, dim in enumerate(output_spec)}

    for dim in input_spec:
        input_size = input_shape[input_dim_map[dim]]
        if dim in output_dim_map:
            output_size = output_shape[output_dim_map[dim]]
            if output_size is not None and output_size != input_size:
                raise ValueError(
                    f"EinsumDense: input shape and output shape do not match at shared dimension '{dim}'. "
                    f"Input shape is {input_size}, and output shape is {output_size}."
                )
    for dim in output_spec:
        if dim not in input_spec and dim not in weight_spec:
            raise ValueError(
                f"EinsumDense: dimension '{dim}' was specified in the output '{output_spec}' but has no "
                f"corresponding dim in the input spec '{input_spec}' or weight spec '{weight_spec}'"
            )

    weight_shape, input_axes, output_axes = [], [], []
    for i, dim in enumerate(weight_spec):
        if dim in output_dim_map:
            weight_shape.append(output_shape[output_dim_map[dim]])
            output_axes.append(i)
        elif dim in input_dim_map:
            weight_shape.append(input_shape[input_dim_map[dim]])
            input_axes.append(i)
        else:
            raise ValueError(
                f"EinsumDense: weight dimension '{dim}' did not have a match in either the input spec "
                f"'{input_spec}' or the output spec '{output_spec}'. For this layer, the weight must be "
                "fully specified."
            )

    if bias_axes is not None:
        num_left_elided = elided if left_elided else 0
        idx_map = {char: output_shape[i + num_left_elided] for i, char in enumerate(output_spec)}
        for char in bias_axes:
            if char not in output_spec:
                raise ValueError(
                    f"EinsumDense: bias dimension '{char}' was requested, but is not part of the output "
                    f"spec '{output_spec}'"
                )
        first_bias_location = min(output_spec.find(char) for char in bias_axes)
        bias_output_spec = output_spec[first_bias_location:]
        bias_shape = [idx_map[char] if char in bias_axes else 1 for char in bias_output_spec]
        if not left_elided:
            bias_shape.extend([1] * elided)
    else:
        bias_shape = None
    return weight_shape, bias_shape, output_shape, input_axes, output_axes


def _spelled_out(equation, input_rank):
    """The equation with ``...`` replaced by letters it does not use, for an input of ``input_rank`` axes."""
    left, output_spec = equation.split("->")
    input_spec, weight_spec = left.split(",")
    if "..." not in input_spec:
        return input_spec, weight_spec, output_spec
    elided_count = input_rank - len(input_spec.replace("...", ""))
    unused = [c for c in string.ascii_letters if c not in equation][:max(elided_count, 0)]
    letters = "".join(unused)
    return input_spec.replace("...", letters), weight_spec, output_spec.replace("...", letters)


def _sum_to_shape(grad, shape):
    """Sum ``grad`` down to ``shape``, the reverse of broadcasting ``shape`` against it from the right."""
    shape = tuple(shape)
    if grad.shape == shape:
        return grad
    grad = grad.sum(axis=tuple(range(grad.ndim - len(shape))))
    axes = tuple(axis for axis, size in enumerate(shape) if size == 1 and grad.shape[axis] != 1)
    return grad.sum(axis=axes, keepdims=True) if axes else grad


class EinsumDense(KernelLayer):
    """A dense layer of any dimensionality, computed as one einsum (爱因斯坦求和全连接层).

    ``y = activation(einsum(equation, x, kernel) + bias)``.

    Args:
        equation: the einsum, ``'ab,bc->ac'``, ``'...ab,bc->...ac'`` or
            ``'ab...,bc->ac...'``: the input's letters, the kernel's, the output's.
            Each letter appears at most once per term.
        output_shape: int or tuple, the output's shape without the batch axis and
            the axes the ellipsis stands for; None entries are taken from the input.
        activation: name or function; None means linear.
        bias_axes: None (no bias) or a string of output letters that get a bias,
            e.g. ``'c'``; the bias has the output's shape from the first of them
            on, with size 1 on the output axes not named.
        kernel_initializer, bias_initializer: initializers (names or objects). A
            VarianceScaling kernel initializer (Keras's default glorot_uniform)
            counts its fans on the kernel axes that meet the input and the output,
            as Keras does.
        kernel_regularizer, bias_regularizer: penalties on the weights.
        activity_regularizer: a penalty on the output, divided by the batch size.
        kernel_constraint, bias_constraint: projections applied after each step.
        lora_rank, lora_alpha, gptq_unpacked_column_size, quantization_config:
            accepted at their default (None) only: course_lib has no LoRA or
            quantization, and says so for any other value.

    Input shape: any rank the equation allows, fixed by the first call.
    Output shape: ``(batch_size, *output_shape)`` with the elided axes where the equation puts them.
    """

    lists_activity_regularizer = True  # Keras's EinsumDense always writes it, None included

    def __init__(self, equation, output_shape, activation=None, bias_axes=None,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros", kernel_regularizer=None,
                 bias_regularizer=None, kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None, gptq_unpacked_column_size=None,
                 quantization_config=None, **kwargs):
        if not isinstance(equation, str):
            raise TypeError(f"EinsumDense: equation must be a string. Received: equation={equation!r}")
        _check_equation(equation)
        if isinstance(output_shape, int) and not isinstance(output_shape, bool):
            partial = (output_shape,)
        else:
            try:
                partial = tuple(output_shape)
            except TypeError:
                raise TypeError(
                    "EinsumDense: output_shape must be an int or a tuple of ints (None for sizes taken from "
                    f"the input). Received: output_shape={output_shape!r}"
                ) from None
        if any(s is not None and (isinstance(s, bool) or not isinstance(s, int) or s <= 0) for s in partial):
            raise ValueError(
                "EinsumDense: output_shape must hold positive ints or None. "
                f"Received: output_shape={output_shape!r}"
            )
        if bias_axes is not None and not isinstance(bias_axes, str):
            raise TypeError(f"EinsumDense: bias_axes must be a string or None. Received: bias_axes={bias_axes!r}")
        if lora_rank is not None or lora_alpha is not None:
            raise ValueError(
                "EinsumDense: LoRA (lora_rank, lora_alpha) is not supported by course_lib: it has no low-rank "
                "adaptation of the kernel. Train the full kernel, or use tf.keras for LoRA. "
                f"Received: lora_rank={lora_rank!r}, lora_alpha={lora_alpha!r}"
            )
        _not_yet_supported("EinsumDense", gptq_unpacked_column_size=gptq_unpacked_column_size,
                           quantization_config=quantization_config)
        super().__init__(**kwargs)
        self.equation = equation
        self.partial_output_shape = partial
        self.bias_axes = bias_axes
        self._kernel_options(activation, bias_axes is not None, kernel_initializer, bias_initializer,
                             kernel_regularizer, bias_regularizer, kernel_constraint, bias_constraint)
        self.lora_rank = None
        self.lora_alpha = None
        self.lora_enabled = False

    def enable_lora(self, rank, lora_alpha=None, a_initializer="he_uniform", b_initializer="zeros"):
        """Refused: course_lib has no LoRA (Keras's ``enable_lora`` adds two low-rank kernels)."""
        raise ValueError(
            f"EinsumDense '{self.name}': enable_lora is not supported by course_lib: it has no low-rank "
            f"adaptation of the kernel. Received: rank={rank!r}"
        )

    def _analyze(self, input_shape):
        return analyze_einsum_string(self.equation, self.bias_axes, tuple(input_shape), self.partial_output_shape)

    def build(self, input_shape):
        kernel_shape, bias_shape, _, input_axes, output_axes = self._analyze(input_shape)
        if any(size is None for size in kernel_shape):
            raise ValueError(
                f"EinsumDense '{self.name}': the kernel's shape {tuple(kernel_shape)} has unknown sizes: every "
                "kernel letter must meet a known input size or an output_shape entry. "
                f"Received: input_shape={tuple(input_shape)}, output_shape={self.partial_output_shape}"
            )
        if bias_shape is not None and any(size is None for size in bias_shape):
            raise ValueError(
                f"EinsumDense '{self.name}': the bias's shape {tuple(bias_shape)} has unknown sizes: give them "
                f"in output_shape. Received: input_shape={tuple(input_shape)}, bias_axes={self.bias_axes!r}"
            )
        initializer = self.kernel_initializer
        if isinstance(initializer, initializers.VarianceScaling) and (
                initializer.input_axes is None or initializer.output_axes is None):
            config = dict(initializer.get_config(), input_axes=input_axes, output_axes=output_axes)
            initializer = type(initializer).from_config(config)
        self.kernel = self.add_weight("kernel", tuple(kernel_shape), initializer,
                                      regularizer=self.kernel_regularizer, constraint=self.kernel_constraint)
        self.bias = None
        if bias_shape is not None:
            self.bias = self.add_weight("bias", tuple(bias_shape), self.bias_initializer,
                                        regularizer=self.bias_regularizer, constraint=self.bias_constraint)
        self._specs = _spelled_out(self.equation, len(input_shape))
        self.input_spec = InputSpec(ndim=len(input_shape))
        self.built = True

    def forward_pre_activation(self, inputs, training=False):
        input_spec, weight_spec, output_spec = self._specs
        xp = backend.xp
        outputs = xp.einsum(f"{input_spec},{weight_spec}->{output_spec}", inputs, self.kernel.value,
                            optimize=True)
        if self.bias is not None:
            outputs = outputs + self.bias.value
        return outputs.astype(inputs.dtype, copy=False), inputs

    def backward_pre_activation(self, dpre, inputs, need_dx=True):
        input_spec, weight_spec, output_spec = self._specs
        xp = backend.xp
        kernel = self.kernel.value
        dkernel = xp.einsum(f"{input_spec},{output_spec}->{weight_spec}", inputs, dpre, optimize=True)
        grads = {"kernel": dkernel}
        if self.bias is not None:
            grads["bias"] = _sum_to_shape(dpre, self.bias.value.shape)
        dx = None
        if need_dx:
            # Input letters found in neither the output nor the kernel were summed away by the
            # forward einsum alone: every input entry along them gets the same gradient.
            reached = "".join(c for c in input_spec if c in output_spec or c in weight_spec)
            dx = xp.einsum(f"{output_spec},{weight_spec}->{reached}", dpre, kernel, optimize=True)
            if reached != input_spec:
                dx = xp.expand_dims(dx, tuple(i for i, c in enumerate(input_spec) if c not in reached))
                dx = xp.broadcast_to(dx, inputs.shape).copy()
            dx = dx.astype(inputs.dtype, copy=False)
        return dx, grads

    def compute_output_shape(self, input_shape):
        return tuple(self._analyze(input_shape)[2])

    def get_config(self):
        config = super().get_config()
        kernel_config = self._kernel_config()
        del kernel_config["use_bias"]
        config.update(output_shape=self.partial_output_shape, equation=self.equation,
                      activation=kernel_config.pop("activation"), bias_axes=self.bias_axes)
        config.update(kernel_config, quantization_config=None)
        return config


def _check_equation(equation):
    """Refuse what :func:`analyze_einsum_string` would misread: a letter twice in one term."""
    dot_replaced = re.sub(r"\.\.\.", "0", equation)
    terms = re.split(",|->", dot_replaced)
    for term in terms:
        letters = term.replace("0", "")
        repeated = sorted({c for c in letters if letters.count(c) > 1})
        if repeated:
            raise ValueError(
                f"EinsumDense: each letter may appear only once in each term of the equation (course_lib "
                f"does not take diagonals). Received: equation={equation!r}, repeated in '{term}': {repeated}"
            )
