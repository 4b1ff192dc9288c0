"""``keras.backend``'s names in ``course_lib.backend``: classic code's ``K.image_data_format()`` and the dtype rules.

Each answer is compared with tf.keras's own in the same test; the one deliberate difference,
``backend()``, is pinned against Keras's answer.
"""
import itertools

import numpy as np
import pytest

import course_lib as cl

tf = pytest.importorskip("tensorflow")
keras = tf.keras

pytestmark = pytest.mark.parity

# Every dtype Keras lists, Python's types (int and float are weak), None (floatx) and one float8.
DTYPES = ["bool", "uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "bfloat16",
          "float16", "float32", "float64", "complex64", "complex128", "string", "float8_e4m3fn",
          int, float, bool, None, np.float16, np.dtype("int32")]


def _outcome(function, *args):
    try:
        return function(*args)
    except (TypeError, ValueError) as error:
        return type(error).__name__


@pytest.fixture
def floatx_of_both():
    def use(value):
        cl.config.set_floatx(value)
        keras.config.set_floatx(value)

    yield use
    use("float32")


def test_course_lib_backend_has_every_name_of_keras_backend():
    # Keras 3's own namespace: tf.keras.backend adds the 122 tensor functions of tf-keras 2 (K.abs, K.dot ...),
    # which Keras 3 moved to keras.ops.
    theirs = {name for name in dir(pytest.importorskip("keras").backend) if not name.startswith("_")}
    assert theirs, "keras.backend lists no names"
    assert sorted(theirs - set(dir(cl.backend))) == []


@pytest.mark.parametrize("floatx", ["float32", "float16", "float64"])
def test_result_type_of_every_pair_matches_keras(floatx_of_both, floatx):
    floatx_of_both(floatx)
    differ = [(pair, _outcome(keras.backend.result_type, *pair), _outcome(cl.backend.result_type, *pair))
              for pair in itertools.product(DTYPES, repeat=2)]
    differ = [case for case in differ if case[1] != case[2]]
    assert differ == [], f"{len(differ)} pairs differ, e.g. {differ[:5]}"
    assert cl.backend.result_type() == keras.backend.result_type() == floatx


def test_result_type_of_three_dtypes_and_of_one_matches_keras():
    typed = ["bool", "uint8", "uint32", "int8", "int64", "bfloat16", "float16", "float64", "complex64", int, float]
    cases = [(dtype,) for dtype in DTYPES] + list(itertools.product(typed, repeat=3))
    differ = [case for case in cases
              if _outcome(keras.backend.result_type, *case) != _outcome(cl.backend.result_type, *case)]
    assert differ == []


def test_result_type_names_the_dtypes_it_cannot_promote():
    with pytest.raises(ValueError, match="result_type: 'string' has no place in Keras's type promotion"):
        cl.backend.result_type("string", "int32")
    with pytest.raises(ValueError, match="float8"):
        cl.backend.result_type("float8_e5m2", "float32")
    with pytest.raises(ValueError, match="Invalid dtype: float128"):
        cl.backend.result_type("float128")


def test_dtype_kinds_and_names_match_keras():
    for dtype in DTYPES:
        for name in ("is_float_dtype", "is_int_dtype", "standardize_dtype"):
            ours, theirs = getattr(cl.backend, name), getattr(keras.backend, name)
            assert _outcome(ours, dtype) == _outcome(theirs, dtype), (name, dtype)
    assert cl.utils.standardize_dtype is cl.backend.standardize_dtype


def test_settings_are_the_ones_keras_config_keeps():
    try:
        for value in ("channels_first", "CHANNELS_LAST", "channels_first"):
            cl.backend.set_image_data_format(value)
            keras.backend.set_image_data_format(value)
            assert cl.backend.image_data_format() == cl.config.image_data_format() \
                == keras.backend.image_data_format() == keras.config.image_data_format()
        with pytest.raises(ValueError):
            keras.backend.set_image_data_format("channels_middle")
        with pytest.raises(ValueError, match="set_image_data_format: .*Received: data_format='channels_middle'"):
            cl.backend.set_image_data_format("channels_middle")
        assert cl.config.image_data_format() == "channels_first"  # a refused value changes nothing
        cl.backend.set_epsilon(1e-4)
        keras.backend.set_epsilon(1e-4)
        assert cl.config.epsilon() == cl.backend.epsilon() == keras.backend.epsilon() == 1e-4
    finally:
        for module in (cl.backend, keras.backend):
            module.set_image_data_format("channels_last")
            module.set_epsilon(1e-7)


def test_get_uid_counts_on_the_layer_names_counter_as_keras():
    def script(library):
        library.backend.clear_session()
        first = library.layers.Dense(2)
        counts = [library.backend.get_uid("dense"), library.backend.get_uid("dense")]
        second = library.layers.Dense(2)
        counts += [library.backend.get_uid("my_prefix"), library.backend.get_uid("my_prefix"),
                   library.backend.get_uid()]
        library.backend.clear_session()
        return [first.name, second.name], counts + [library.backend.get_uid("dense")]

    assert script(cl) == script(keras)


def test_is_keras_tensor_and_the_backend_name():
    for library in (cl, keras):
        symbolic = library.Input((3,))
        assert library.backend.is_keras_tensor(symbolic)
        assert library.backend.is_keras_tensor(library.layers.Dense(2)(symbolic))
        assert not library.backend.is_keras_tensor(np.zeros(3))
    # On purpose: course_lib names its array module where Keras names its backend.
    assert keras.backend.backend() == "tensorflow"
    assert cl.backend.backend() == cl.config.backend() == cl.backend.backend_name() == "numpy"
