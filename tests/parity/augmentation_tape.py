"""The shared harness of the augmentation layers' parity tests.

Randomness is pinned by handing Keras's own ``get_random_transformation`` draw (with a
seed) to both libraries' ``transform_images``; our own draw must have Keras's structure.
"""
import numpy as np
import tensorflow as tf

keras = tf.keras


def numpy_tree(value):
    """``value`` with every tensor (in dicts, lists, tuples) as a NumPy array and shapes as tuples."""
    if isinstance(value, dict):
        return {key: numpy_tree(item) for key, item in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(numpy_tree(item) for item in value)
    if isinstance(value, tf.TensorShape):
        return tuple(value)
    if hasattr(value, "numpy"):
        return value.numpy()
    return value


def tape_gradient(layer, x, transformation, generator):
    """Keras's ``transform_images(x, transformation)`` and its gradient with respect to the images for a random
    upstream gradient drawn from ``generator``: ``(y, dy, dx)`` as NumPy arrays."""
    tensor = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(tensor)
        y = layer.transform_images(tensor, transformation, training=True)
    dy = generator.standard_normal(y.shape).astype("float32")
    return y.numpy(), dy, tape.gradient(y, tensor, output_gradients=tf.constant(dy)).numpy()


def config_without_name(layer):
    config = dict(layer.get_config())
    config.pop("name")
    return config


def images(generator, shape, kwargs, data_format):
    """Pixels in [0, 255], or in the case's ``value_range``, channels last or first."""
    x = (generator.random(shape) * 255).astype("float32")
    low, high = kwargs.get("value_range", (0, 255))
    x = x / 255 * (high - low) + low
    return np.moveaxis(x, -1, -3).copy() if data_format == "channels_first" else x


def keras_transformation(layer, x, seed=3):
    return numpy_tree(layer.get_random_transformation(x, training=True, seed=keras.random.SeedGenerator(seed)))


def same_structure(own, theirs):
    """Our draw has Keras's structure: the same keys, shapes and dtypes."""
    if isinstance(theirs, dict):
        assert own.keys() == theirs.keys()
        for key, value in theirs.items():
            if hasattr(value, "shape"):
                assert tuple(np.shape(own[key])) == value.shape, key
                assert np.asarray(own[key]).dtype == value.dtype, key
    elif theirs is None:
        assert own is None
    else:
        assert np.shape(own) == theirs.shape and np.asarray(own).dtype == theirs.dtype


def assert_transform_matches(theirs, ours, x, exact, rtol, atol):
    """Both layers' ``transform_images`` on Keras's draw for ``x`` (a batch, or one image): the same pixels."""
    transformation = keras_transformation(theirs, x)
    if x.ndim == 4:
        expected = np.asarray(theirs.transform_images(x, transformation, training=True))
    else:
        expected = np.asarray(theirs.transform_single_image(x, transformation, training=True))
    result = ours.transform_images(x, transformation, training=True)
    assert result.shape == expected.shape and result.dtype == expected.dtype
    if exact:
        np.testing.assert_array_equal(result, expected)
    else:
        np.testing.assert_allclose(result, expected, rtol=rtol, atol=atol)
    same_structure(ours.get_random_transformation(x, training=True), transformation)


def assert_draw_changes_images(theirs, x, name):
    """A test case is not vacuous: with Keras's draw, Keras's layer changes the images."""
    changed = np.asarray(theirs.transform_images(x, keras_transformation(theirs, x), training=True))
    assert not np.allclose(changed, x), name


def assert_inference_matches(make_pair, exact=True, rtol=0.0, atol=0.0):
    """At inference both layers of ``make_pair()`` give Keras's values and dtypes, for uint8, float32 and float64."""
    images = (np.random.default_rng(9).random((2, 7, 8, 3)) * 255).astype("uint8")
    for x in (images, images.astype("float32"), images.astype("float64")):
        theirs, ours = make_pair()
        expected = np.asarray(theirs(x, training=False))
        result = ours(x, training=False)
        assert result.dtype == expected.dtype and result.shape == expected.shape, (result.dtype, expected.dtype)
        if exact:
            np.testing.assert_array_equal(result, expected)
        else:
            np.testing.assert_allclose(result, expected, rtol=rtol, atol=atol)


def assert_configs_match(theirs, ours, shape=(None, 9, 10, 3)):
    """The same config (but the name), ours rebuilt from Keras's, and the same output shape."""
    assert config_without_name(ours) == config_without_name(theirs)
    assert config_without_name(type(ours).from_config(theirs.get_config())) == config_without_name(theirs)
    assert ours.compute_output_shape(shape) == tuple(theirs.compute_output_shape(shape))
