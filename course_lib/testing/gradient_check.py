"""The one numeric gradient checker: central differences in float64.

The check compares ``layer.backward`` (and ``layer.grads``) with finite
differences of the scalar ``sum(layer(x) * dy)`` for a random upstream
gradient ``dy``, so every entry of the Jacobian-vector product is tested.
"""
from __future__ import annotations

import numpy as np



class GradientReport:
    """Worst relative error for every checked array (the inputs and each weight)."""

    def __init__(self, tolerance):
        self.tolerance = tolerance
        self.entries = {}

    def add(self, name, analytic, numeric, index_map):
        difference = np.abs(analytic - numeric)
        scale = np.abs(analytic) + np.abs(numeric)
        floor = 1e-7 * max(1.0, float(np.max(scale, initial=0.0)))
        relative = difference / np.maximum(scale, floor)
        worst = int(np.argmax(relative)) if relative.size else 0
        self.entries[name] = (
            float(relative.flat[worst]) if relative.size else 0.0,
            index_map[worst] if relative.size else (),
            float(analytic.flat[worst]) if relative.size else 0.0,
            float(numeric.flat[worst]) if relative.size else 0.0,
        )

    @property
    def max_error(self):
        return max((entry[0] for entry in self.entries.values()), default=0.0)

    @property
    def passed(self):
        return self.max_error < self.tolerance

    def __str__(self):
        lines = []
        for name, (error, index, analytic, numeric) in self.entries.items():
            verdict = "ok" if error < self.tolerance else "FAILED"
            lines.append(
                f"{name}: relative error {error:.2e} at index {index} "
                f"(backward gave {analytic:.6g}, central difference {numeric:.6g}); "
                f"expected < {self.tolerance:g} [{verdict}]"
            )
        return "\n".join(lines)


def _arrays(target):
    """(name, array, owner, key) for every weight of a layer or model."""
    layers = target.layers if hasattr(target, "layers") else [target]
    found = []
    for layer in layers:
        for name, array in zip(layer.trainable_weight_names, layer.trainable_weights):
            label = name if layers == [target] else f"{layer.name}/{name}"
            found.append((label, array, layer, name))
    return found


def check_gradients(target, inputs, upstream=None, training=False, epsilon=1e-6, tolerance=1e-6,
                    max_entries=64, seed=0, before_forward=None):
    """Check a layer's or model's backward pass against central differences.

    Build ``target`` in float64 (inside ``backend.floatx_scope('float64')``).

    Args:
        target: a Layer or Model.
        inputs: an array, or a list of arrays for layers taking several inputs.
        upstream: dL/dy (a list for a target with several outputs); random normal when None.
        training: passed to the forward pass.
        epsilon: the finite-difference step.
        tolerance: largest accepted relative error.
        max_entries: entries checked per array (chosen at random when larger).
        before_forward: called before every forward pass, e.g. to reseed dropout.

    Returns:
        A :class:`GradientReport`; ``report.passed`` tells the verdict.
    """
    generator = np.random.default_rng(seed)
    several = isinstance(inputs, (list, tuple))
    xs = [np.array(x, dtype=np.float64) for x in (inputs if several else [inputs])]
    if any(w.dtype != np.float64 for _, w, _, _ in _arrays(target)) or getattr(target, "dtype", "float64") != "float64":
        raise TypeError(
            "check_gradients: build the layer in float64 (inside backend.floatx_scope('float64')) "
            "so that finite differences are accurate."
        )

    def forward():
        if before_forward is not None:
            before_forward()
        outputs = target(xs if several else xs[0], training=training)
        return [np.asarray(y, dtype=np.float64) for y in (outputs if isinstance(outputs, list) else [outputs])]

    def objective():
        return float(sum(np.sum(y * d) for y, d in zip(forward(), dys)))

    outputs = forward()
    several_outputs = len(outputs) > 1
    if upstream is None:
        dys = [generator.standard_normal(y.shape) for y in outputs]
    else:
        dys = [np.asarray(d, np.float64) for d in (upstream if several_outputs else [upstream])]
    for d, y in zip(dys, outputs):
        if d.shape != y.shape:
            raise ValueError(f"check_gradients: upstream has shape {d.shape}, the output has {y.shape}.")
    dx = target.backward(dys if several_outputs else dys[0])
    dxs = list(dx) if several else [dx]
    analytic = {f"input_{i}" if several else "input": d for i, d in enumerate(dxs)}
    weights = _arrays(target)
    for label, _, owner, name in weights:
        analytic[label] = np.array(owner.grads[name], dtype=np.float64)

    report = GradientReport(tolerance)
    checked = [(f"input_{i}" if several else "input", x) for i, x in enumerate(xs)]
    checked += [(label, array) for label, array, _, _ in weights]
    for label, array in checked:
        flat_positions = np.arange(array.size)
        if array.size > max_entries:
            flat_positions = generator.choice(array.size, size=max_entries, replace=False)
        numeric = np.empty(len(flat_positions))
        for k, position in enumerate(flat_positions):
            index = np.unravel_index(position, array.shape)
            original = array[index]
            array[index] = original + epsilon
            plus = objective()
            array[index] = original - epsilon
            minus = objective()
            array[index] = original
            numeric[k] = (plus - minus) / (2 * epsilon)
        index_map = [tuple(int(i) for i in np.unravel_index(p, array.shape)) for p in flat_positions]
        report.add(label, np.asarray(analytic[label]).reshape(-1)[flat_positions], numeric, index_map)
    return report


def assert_gradients_close(target, inputs, **kwargs):
    """:func:`check_gradients`, raising an AssertionError with the report when it fails."""
    report = check_gradients(target, inputs, **kwargs)
    if not report.passed:
        raise AssertionError(f"Gradient check failed for {getattr(target, 'name', target)}:\n{report}")
    return report


__all__ = ["GradientReport", "assert_gradients_close", "check_gradients"]
