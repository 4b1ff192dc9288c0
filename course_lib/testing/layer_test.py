"""A public harness that checks a layer keeps the Layer contract."""
from __future__ import annotations

import numpy as np

from course_lib import backend


def layer_test(layer_class, kwargs=None, input_shape=None, input_data=None, expected_output_shape=None,
               expected_num_weights=None, expected_num_params=None, seed=0):
    """Build ``layer_class(**kwargs)`` and check the Layer contract.

    Checks: the config round-trips through ``from_config``; the layer builds
    lazily on its first call; the output shape equals ``compute_output_shape``
    (and ``expected_output_shape`` when given, ``None`` for the batch axis);
    weights count and parameter count; ``set_weights(get_weights())`` is
    lossless; ``backward`` returns a gradient shaped like the input and fills
    ``grads`` with one array per trainable weight, shaped like it.

    Args:
        layer_class: the class under test.
        kwargs: constructor arguments.
        input_shape: full input shape (with batch axis), or a list of them.
        input_data: the input itself (instead of ``input_shape``).

    Returns:
        The built layer, for further checks.
    """
    kwargs = dict(kwargs or {})
    generator = np.random.default_rng(seed)
    if input_data is None:
        if input_shape is None:
            raise ValueError("layer_test: pass input_shape or input_data.")
        several = isinstance(input_shape, list)
        shapes = input_shape if several else [input_shape]
        data = [generator.standard_normal(shape).astype(backend.floatx()) for shape in shapes]
        input_data = data if several else data[0]
    several = isinstance(input_data, list)

    layer = layer_class(**kwargs)
    config = layer.get_config()
    clone = layer_class.from_config(dict(config, name=config["name"] + "_clone"))
    clone_config = clone.get_config()
    for key, value in config.items():
        if key != "name" and clone_config.get(key) != value:
            raise AssertionError(
                f"{layer_class.__name__}: config key {key!r} changed in from_config: {value!r} -> {clone_config.get(key)!r}"
            )
    if layer.built and layer.weights:
        raise AssertionError(f"{layer_class.__name__}: weights were created before build.")

    output = layer(input_data)
    shapes = [x.shape for x in input_data] if several else input_data.shape
    declared = tuple(layer.compute_output_shape(
        [tuple(s) for s in shapes] if several else tuple(shapes)
    ))
    if tuple(output.shape) != declared:
        raise AssertionError(
            f"{layer_class.__name__}: call gave shape {output.shape}, compute_output_shape said {declared}."
        )
    if expected_output_shape is not None:
        expected = tuple(expected_output_shape)
        if len(expected) != output.ndim or any(e is not None and e != s for e, s in zip(expected, output.shape)):
            raise AssertionError(
                f"{layer_class.__name__}: expected output shape {expected}, received {output.shape}."
            )
    if expected_num_weights is not None and len(layer.weights) != expected_num_weights:
        raise AssertionError(
            f"{layer_class.__name__}: expected {expected_num_weights} weights, found {len(layer.weights)}."
        )
    if expected_num_params is not None and layer.count_params() != expected_num_params:
        raise AssertionError(
            f"{layer_class.__name__}: expected {expected_num_params} parameters, found {layer.count_params()}."
        )
    if layer.count_params() != sum(w.size for w in layer.weights):
        raise AssertionError(f"{layer_class.__name__}: count_params disagrees with the weights.")

    saved = layer.get_weights()
    layer.set_weights([w * 0 + 1 for w in saved])
    layer.set_weights(saved)
    for before, after in zip(saved, layer.get_weights()):
        np.testing.assert_array_equal(before, after)

    dy = generator.standard_normal(output.shape).astype(output.dtype)
    dx = layer.backward(dy)
    dxs = dx if several else [dx]
    xs = input_data if several else [input_data]
    for gradient, x in zip(dxs, xs):
        if tuple(np.shape(gradient)) != tuple(x.shape):
            raise AssertionError(
                f"{layer_class.__name__}: backward returned shape {np.shape(gradient)} for an input of shape {x.shape}."
            )
    for name, weight in zip(layer.trainable_weight_names, layer.trainable_weights):
        if name not in layer.grads or layer.grads[name].shape != weight.shape:
            raise AssertionError(f"{layer_class.__name__}: grads[{name!r}] missing or misshaped after backward.")
    return layer
