"""``keras.config``: the global settings course_lib honours, with Keras 3's names.

- ``floatx`` / ``set_floatx``: the float type of new weights and layers
  (``'float32'``; ``'float16'`` and ``'float64'`` too). The setting lives in
  :mod:`course_lib.backend` (``backend.floatx()``), which every layer reads.
- ``epsilon`` / ``set_epsilon``: the fuzz factor (``1e-7``) read where Keras
  reads ``backend.epsilon()``: the cross-entropies' clipping, the norm
  constraints, ``Normalization``, the metrics' thresholds...
- ``image_data_format`` / ``set_image_data_format``: ``'channels_last'``
  (Keras's default) or ``'channels_first'``.
- ``backend``: the name of the array module course_lib computes with
  (``'numpy'``, ``'cupy'`` or ``'strict'``; see :func:`course_lib.backend.set_backend`).
  Keras answers with its own backend (``'tensorflow'``, ``'jax'``...).
- ``enable_unsafe_deserialization``: allow Python lambdas' bytecode to load
  (the Lambda layer's ``safe_mode``), everywhere.
- ``is_interactive_logging_enabled`` / ``enable_interactive_logging`` /
  ``disable_interactive_logging``: where the progress bar of ``fit``,
  ``evaluate`` and ``predict`` writes: standard output, or (disabled) the
  Python logger ``"course_lib"`` at level INFO, one record per finished
  line, as Keras sends its lines to ``absl.logging``.

- ``max_epochs`` / ``set_max_epochs`` and ``max_steps_per_epoch`` /
  ``set_max_steps_per_epoch``: caps for quick debugging runs, also read from
  the environment variables ``KERAS_MAX_EPOCHS`` and
  ``KERAS_MAX_STEPS_PER_EPOCH`` when course_lib is imported. As in Keras, a
  cap below what ``fit`` asks for lowers its ``epochs`` with the warning
  "Limiting epochs to N"; the step cap applies to every epoch of ``fit``
  (validation included), ``evaluate`` and ``predict`` ("Limiting
  steps_per_epoch to N"), so over arrays a capped epoch goes on where the
  last one stopped, as ``steps_per_epoch`` does. None (or 0) is no cap.

Left out, because course_lib has nothing they could switch: dtype policies
(mixed precision), flash attention, traceback filtering, NNX and ``set_backend``
(use :func:`course_lib.backend.set_backend`).
"""
import numbers
import os

from course_lib import backend as _backend

__all__ = [
    "backend", "disable_interactive_logging", "enable_interactive_logging", "enable_unsafe_deserialization",
    "epsilon", "floatx", "image_data_format", "is_interactive_logging_enabled", "max_epochs",
    "max_steps_per_epoch", "set_epsilon", "set_floatx", "set_image_data_format", "set_max_epochs",
    "set_max_steps_per_epoch",
]

_settings = {"interactive_logging": True,
             "max_epochs": None, "max_steps_per_epoch": None}


def floatx():
    """The default float type as a string: ``'float32'`` unless changed (Keras's ``keras.config.floatx``)."""
    return _backend.floatx()


def set_floatx(value):
    """Set the default float type of new layers and weights (Keras's ``keras.config.set_floatx``).

    Args:
        value: ``'float16'``, ``'float32'`` or ``'float64'`` (course_lib has no ``'bfloat16'``).

    Raises:
        ValueError: for any other value.
    """
    if not isinstance(value, str):
        raise ValueError(
            f"set_floatx: expected one of {_backend._FLOAT_TYPES} as a string. Received: {value!r}"
        )
    _backend.set_floatx(value)


def epsilon():
    """The fuzz factor, ``1e-7`` unless changed (Keras's ``keras.config.epsilon``)."""
    return _backend.epsilon()


# Kept in course_lib.backend, where Keras 3 exports them too (``keras.backend.image_data_format`` ...).
set_epsilon = _backend.set_epsilon
image_data_format = _backend.image_data_format
set_image_data_format = _backend.set_image_data_format
backend = _backend.backend


def enable_unsafe_deserialization():
    """Allow Python lambdas to be deserialized everywhere (Keras's ``keras.config.enable_unsafe_deserialization``).

    Disables safe mode globally: ``load_model`` and ``Lambda.from_config``
    then load a lambda's bytecode whatever their ``safe_mode`` argument.
    """
    from course_lib.layers import lambda_layer

    lambda_layer.enable_unsafe_deserialization()


def is_interactive_logging_enabled():
    """Whether progress is written to standard output (True, the default) or to the ``"course_lib"`` logger."""
    return _settings["interactive_logging"]


def enable_interactive_logging():
    """Write the progress of ``fit``, ``evaluate`` and ``predict`` to standard output (the default)."""
    _settings["interactive_logging"] = True


def disable_interactive_logging():
    """Send the progress of ``fit``, ``evaluate`` and ``predict`` to the Python logger ``"course_lib"`` instead.

    As Keras sends it to ``absl.logging``: for jobs on a server, where a
    redrawn bar makes no sense. Each finished line is one INFO record.
    """
    _settings["interactive_logging"] = False


# ------------------------------------------------------- caps for debugging runs
def _check_cap(where, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{where}: expected None or an int >= 0 (0: no limit). Received: {value!r}")
    return int(value)


def set_max_epochs(max_epochs):
    """Cap the epochs of every ``fit`` (Keras's ``keras.config.set_max_epochs``), for quick debugging runs.

    Args:
        max_epochs: an int, or None (or 0) for no cap.
    """
    _settings["max_epochs"] = _check_cap("set_max_epochs", max_epochs)


def max_epochs():
    """The cap on the epochs of ``fit`` set by :func:`set_max_epochs` or ``KERAS_MAX_EPOCHS``, or None."""
    return _settings["max_epochs"]


def set_max_steps_per_epoch(max_steps_per_epoch):
    """Cap the steps of each epoch of ``fit``, ``evaluate`` and ``predict`` (Keras's ``set_max_steps_per_epoch``).

    Args:
        max_steps_per_epoch: an int, or None (or 0) for no cap.
    """
    _settings["max_steps_per_epoch"] = _check_cap("set_max_steps_per_epoch", max_steps_per_epoch)


def max_steps_per_epoch():
    """The cap set by :func:`set_max_steps_per_epoch` or ``KERAS_MAX_STEPS_PER_EPOCH``, or None."""
    return _settings["max_steps_per_epoch"]


def _read_caps_from_the_environment():
    for variable, setter in (("KERAS_MAX_EPOCHS", set_max_epochs),
                             ("KERAS_MAX_STEPS_PER_EPOCH", set_max_steps_per_epoch)):
        if variable in os.environ:
            text = os.environ[variable]
            try:
                setter(int(text))
            except ValueError:
                raise ValueError(
                    f"course_lib.config: the environment variable {variable} must be an int >= 0. Received: {text!r}"
                ) from None


_read_caps_from_the_environment()
