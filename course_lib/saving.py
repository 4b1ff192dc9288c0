"""Keras 3's file formats, so that a model moves between course_lib and Keras both ways.

- ``model.save("m.keras")`` writes Keras 3's zip: ``config.json`` (the model's
  serialized config plus its compile config), ``metadata.json`` and
  ``model.weights.h5``; ``keras.models.load_model`` opens it, and
  :func:`load_model` opens the ``.keras`` files Keras writes.
- ``model.save_weights("m.weights.h5")`` / ``load_weights`` use Keras's HDF5
  layout: each layer's variables under ``layers/<name>/vars/<i>``, where
  ``<name>`` is the layer's class in snake case, numbered within its model
  (``dense``, ``dense_1``, ...) and ``<i>`` counts the variables in Keras's
  order (those created trainable first). A model inside a model nests its
  own ``layers/`` group.
- Layers whose state is not a weight follow Keras's hooks:
  ``save_own_variables(store)`` / ``load_own_variables(store)`` write and read
  their ``vars`` group by key (a tf_idf lookup's ``idf_weights``), and
  ``save_assets(dir)`` / ``load_assets(dir)`` their files under
  ``assets/<layer path>/`` in the zip (a lookup's ``vocabulary.txt``).

A compiled model's optimizer state goes under ``optimizer/vars`` in Keras's
order (the iteration count, the learning rate unless it is a schedule, then
each weight's slots), so training resumes in either library where it stopped.
"""
from __future__ import annotations

import datetime
import inspect
import json
import os
import tempfile
import threading
import types
import warnings
import zipfile

from course_lib import backend

FORMAT_KERAS_VERSION = "3.15.1"
"""The Keras release whose file format these files follow."""

_GLOBAL_CUSTOM_OBJECTS = {}
"""Keras's ``GLOBAL_CUSTOM_OBJECTS``: ``{name: object}``, what :func:`get_custom_objects` hands out."""
_GLOBAL_CUSTOM_NAMES = {}
"""Keras's ``GLOBAL_CUSTOM_NAMES``: ``{object: registered name}`` for :func:`get_registered_name`."""
_REGISTERED = _GLOBAL_CUSTOM_OBJECTS  # the older name of the same dict
_SCOPE = threading.local()
"""``_SCOPE.objects``: the innermost :class:`CustomObjectScope`'s objects (per thread, as Keras's global state)."""


def register_keras_serializable(package="Custom", name=None):
    """Decorator: let :func:`load_model` and every deserializer find a custom class or function by name.

    As Keras's: the object is registered as ``"package>name"`` (``name``
    defaults to its ``__name__``) in :func:`get_custom_objects`, and is found
    again without ``custom_objects``; registering the same name again replaces
    the earlier object, as in Keras.

    Args:
        package: the first part of the registered name.
        name: the second part; the object's ``__name__`` when None.

    Raises:
        ValueError: for a class without a ``get_config()`` method (Keras's check).
    """
    def decorate(obj):
        registered = f"{package}>{name if name is not None else obj.__name__}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError(
                f"register_keras_serializable: cannot register the class {obj.__name__!r} ({registered!r}): "
                "it has no get_config() method."
            )
        _GLOBAL_CUSTOM_OBJECTS[registered] = obj
        _GLOBAL_CUSTOM_NAMES[obj] = registered  # get_registered_name reads it; subclasses are not in it
        return obj

    return decorate


def get_custom_objects():
    """The global dictionary of custom objects, live (Keras's ``keras.saving.get_custom_objects``).

    Every deserializer of course_lib consults it (layers, models, losses,
    metrics, optimizers, activations, initializers, regularizers,
    constraints), so ``get_custom_objects()["my_loss"] = my_loss`` is enough
    for ``load_model`` to find ``my_loss``. It holds the objects registered
    with :func:`register_keras_serializable`; those of a
    :func:`custom_object_scope` are not added to it.
    """
    return _GLOBAL_CUSTOM_OBJECTS


def _scope_objects():
    return getattr(_SCOPE, "objects", None) or {}


class CustomObjectScope:
    """A ``with`` block in which custom classes and functions are found by name (Keras's ``CustomObjectScope``).

    Inside ``with custom_object_scope({"MyLayer": MyLayer}):``, ``load_model``
    and every deserializer find ``MyLayer`` without ``custom_objects``. As in
    Keras, a scope replaces an enclosing scope's objects (it does not add to
    them) and the enclosing ones come back when the block ends, also when it
    ends with an exception.

    Args:
        custom_objects: a dict ``{name: class or function}``, or None.
    """

    def __init__(self, custom_objects=None):
        if custom_objects is not None and not isinstance(custom_objects, dict):
            raise TypeError(
                "CustomObjectScope: custom_objects must be a dict {name: class or function} or None. "
                f"Received: {custom_objects!r} of type {type(custom_objects).__name__}"
            )
        self.custom_objects = custom_objects or {}
        self.backup = None

    def __enter__(self):
        self.backup = dict(_scope_objects())
        _SCOPE.objects = dict(self.custom_objects)
        return self

    def __exit__(self, *exc_info):
        _SCOPE.objects = dict(self.backup)


custom_object_scope = CustomObjectScope


def get_registered_name(obj):
    """The name ``obj`` is registered under, else its ``__name__`` (Keras's ``get_registered_name``)."""
    try:
        if obj in _GLOBAL_CUSTOM_NAMES:
            return _GLOBAL_CUSTOM_NAMES[obj]
    except TypeError:  # an unhashable object cannot have been registered
        pass
    if not hasattr(obj, "__name__"):
        raise TypeError(
            f"get_registered_name: expected a class or a function. Received: {obj!r} of type {type(obj).__name__}"
        )
    return obj.__name__


def get_registered_object(name, custom_objects=None, module_objects=None):
    """The object registered as ``name``, or None (Keras's ``get_registered_object``).

    Looked up, in this order, in the enclosing :func:`custom_object_scope`,
    the global custom objects (:func:`get_custom_objects`, which holds what
    :func:`register_keras_serializable` registered), ``custom_objects`` and
    ``module_objects``.
    """
    for objects in (_scope_objects(), _GLOBAL_CUSTOM_OBJECTS, custom_objects, module_objects):
        if objects and name in objects:
            return objects[name]
    return None


def custom_objects_in_effect(custom_objects=None):
    """``custom_objects`` with the global custom objects and the enclosing scope's over it, as one dict.

    The precedence is :func:`get_registered_object`'s: the scope, then the
    global objects, then ``custom_objects``.
    """
    if custom_objects is not None and not isinstance(custom_objects, dict):
        raise TypeError(
            "custom_objects must be a dict {name: class or function} or None. "
            f"Received: {custom_objects!r} of type {type(custom_objects).__name__}"
        )
    return {**(custom_objects or {}), **_GLOBAL_CUSTOM_OBJECTS, **_scope_objects()}


def find_object(name, builtins=None, custom_objects=None, registered_name=None):
    """The one lookup every course_lib deserializer makes for a name in a config; None when nothing matches.

    In order: a custom object (the scope, the global ones, ``custom_objects``)
    under ``registered_name``, then under ``name``; the built-in ``builtins[name]``
    (None when ``builtins`` is a set of names: the caller builds the built-in);
    last, as Keras does for files of Keras <= 3.6, the one custom object
    registered as ``"package>name"``.
    """
    objects = custom_objects_in_effect(custom_objects)
    for key in (registered_name, name):
        if isinstance(key, str) and key in objects:
            return objects[key]
    if builtins is not None and isinstance(name, str) and name in builtins:
        # a dict gives the built-in; a set of built-in names leaves it to the caller
        return builtins[name] if isinstance(builtins, dict) else None
    if isinstance(name, str) and ">" not in name:
        found = {id(obj): obj for key, obj in objects.items() if key.endswith(f">{name}")}
        if len(found) == 1:
            return next(iter(found.values()))
    return None


def registered_objects():
    """``{name: object}`` found without ``custom_objects``: the global custom objects and the enclosing scope's."""
    return custom_objects_in_effect(None)


# -------------------------------------------------- serialize_keras_object
_PLAIN_TYPES = (str, int, float, bool)

_NON_MODELING_APIS = frozenset({
    "keras.backend.clear_session", "keras.config.enable_unsafe_deserialization", "keras.models.load_model",
    "keras.models.model_from_json", "keras.models.save_model", "keras.preprocessing.image_dataset_from_directory",
    "keras.preprocessing.image.load_img", "keras.preprocessing.image.save_img",
    "keras.preprocessing.text_dataset_from_directory", "keras.saving.deserialize_keras_object",
    "keras.saving.load_model", "keras.saving.load_weights", "keras.saving.register_keras_serializable",
    "keras.saving.save_model", "keras.saving.save_weights", "keras.saving.serialize_keras_object",
    "keras.utils.audio_dataset_from_directory", "keras.utils.clear_session", "keras.utils.deserialize_keras_object",
    "keras.utils.get_file", "keras.utils.image_dataset_from_directory", "keras.utils.load_img",
    "keras.utils.register_keras_serializable", "keras.utils.save_img", "keras.utils.serialize_keras_object",
    "keras.utils.text_dataset_from_directory",
})
"""Keras's ``NON_MODELING_APIS``: functions a config may never name."""

# Keras's optimizer arguments course_lib accepts only switched off, with the values Keras writes for them.
_OPTIMIZER_KERAS_DEFAULTS = {"use_ema": False, "ema_momentum": 0.99, "ema_overwrite_frequency": None,
                             "loss_scale_factor": None, "gradient_accumulation_steps": None}


def _kinds():
    """``[(keras module, course_lib module)]`` of the kinds whose built-in classes Keras serializes by module."""
    from course_lib import constraints, initializers, losses, metrics, optimizers, regularizers

    return [("keras.losses", losses), ("keras.metrics", metrics), ("keras.optimizers.schedules", optimizers.schedules),
            ("keras.optimizers", optimizers), ("keras.initializers", initializers),
            ("keras.regularizers", regularizers), ("keras.constraints", constraints)]


def _public_module(cls):
    """The Keras module that exports course_lib's built-in class ``cls`` (``keras.losses``), or None."""
    for public, module in _kinds():
        if getattr(module, cls.__name__, None) is cls and not cls.__name__.startswith("_"):
            return public
    return None


def serialize_keras_object(obj):
    """The config dict of a course_lib object, as Keras's ``keras.saving.serialize_keras_object`` writes it.

    Layers and models, losses, metrics, optimizers (and their schedules),
    initializers, regularizers and constraints become
    ``{'module', 'class_name', 'config', 'registered_name'}`` (with
    ``build_config`` / ``compile_config`` where Keras writes them);
    activations and other functions ``{'module': 'builtins', 'class_name':
    'function', 'config': name, 'registered_name': 'function'}``; a lambda its
    bytecode (with Keras's warning); None, strings, numbers, lists, tuples and
    dicts stay plain values (their items serialized); arrays, bytes, slices
    and ``...`` Keras's ``__numpy__``, ``__bytes__``, ``__slice__`` and
    ``__ellipsis__`` dicts. :func:`deserialize_keras_object` reverses it.

    Raises:
        TypeError: for an object that has no ``get_config()`` and is not a function.
    """
    from course_lib import activations, layers, models
    from course_lib.layers import lambda_layer

    if obj is None or isinstance(obj, _PLAIN_TYPES):
        return obj
    if isinstance(obj, (list, tuple)):
        items = [serialize_keras_object(item) for item in obj]
        return tuple(items) if isinstance(obj, tuple) else items
    if isinstance(obj, dict):
        return {key: serialize_keras_object(value) for key, value in obj.items()}
    if isinstance(obj, (bytes, slice)) or obj is Ellipsis or (hasattr(obj, "dtype") and hasattr(obj, "shape")):
        return lambda_layer.serialize_value(obj)
    if isinstance(obj, types.FunctionType) and obj.__name__ == "<lambda>":
        return lambda_layer.serialize_value(obj)
    if isinstance(obj, activations.ActivationFunction):
        function = obj if activations._BY_NAME.get(obj.name) is obj else obj.forward
        name = obj.name if function is obj else get_registered_name(function)
        return {"module": "builtins", "class_name": "function", "config": name, "registered_name": "function"}
    if isinstance(obj, layers.Layer):
        config = layers.serialize(obj)
        if isinstance(obj, models.Model) and obj.compiled:
            config["compile_config"] = obj._compile_config()
    elif isinstance(obj, types.FunctionType) or (not hasattr(obj, "get_config") and hasattr(obj, "__name__")):
        # Keras 3.15 writes a function so: the module and class of its *type*, its (registered) name as config.
        return {"module": "builtins", "class_name": "function", "config": get_registered_name(obj),
                "registered_name": "function"}
    elif hasattr(obj, "get_config"):
        cls = type(obj)
        inner = obj.get_config()
        if not isinstance(inner, dict):
            raise TypeError(
                f"serialize_keras_object: the get_config() method of {obj!r} should return a dict. "
                f"It returned: {inner!r}"
            )
        module = None if cls in _GLOBAL_CUSTOM_NAMES else _public_module(cls)
        if module == "keras.optimizers" and "learning_rate" in inner:
            inner = _keras_optimizer_config(inner)  # a plain optimizer's (a wrapper's, a map's config is its own)
        config = {"module": module or cls.__module__, "class_name": cls.__name__,
                  "config": serialize_keras_object(inner),
                  "registered_name": None if module else get_registered_name(cls)}
    else:
        raise TypeError(
            f"serialize_keras_object: cannot serialize {obj!r} of type {type(obj).__name__}: to be serializable, "
            "a class must implement the get_config() method."
        )
    if config.get("module") == "__main__":
        config["module"] = None  # as Keras: no module when the class was defined in a script
    return config


def _keras_optimizer_config(config):
    """A course_lib optimizer's config with the keys Keras 3 writes: EMA and loss-scaling off, the rate in float32."""
    from course_lib import optimizers

    config = dict(config)
    rate = config.get("learning_rate")
    if isinstance(rate, optimizers.LearningRateSchedule):
        rate = serialize_keras_object(rate)
    elif isinstance(rate, dict) and "class_name" in rate:  # a schedule as serialize_schedule writes it
        rate = {"module": "keras.optimizers.schedules", "class_name": rate["class_name"],
                "config": rate.get("config", {}), "registered_name": None}
    elif isinstance(rate, (int, float)) and not isinstance(rate, bool):
        rate = backend.to_float(backend.xp.asarray(rate, dtype="float32"))  # Keras keeps it in a float32 variable
    config["learning_rate"] = rate
    ordered = {}
    for key, value in config.items():
        ordered[key] = value
        if key == "clipvalue":
            ordered.update({k: v for k, v in _OPTIMIZER_KERAS_DEFAULTS.items() if k not in config})
    ordered.update({k: v for k, v in _OPTIMIZER_KERAS_DEFAULTS.items() if k not in ordered})
    return ordered


def deserialize_keras_object(config, custom_objects=None, safe_mode=True, **kwargs):
    """The course_lib object a config describes (Keras's ``keras.saving.deserialize_keras_object``).

    Reverses :func:`serialize_keras_object` and reads Keras's configs: a
    ``module`` of ``keras.layers`` (or a model's), ``keras.losses``,
    ``keras.metrics``, ``keras.optimizers``, ``keras.optimizers.schedules``,
    ``keras.initializers``, ``keras.regularizers`` or ``keras.constraints``
    goes to that kind's ``deserialize``; a custom class (found by its
    registered name, then its class name, in the scope, the global custom
    objects and ``custom_objects``) is rebuilt with ``from_config`` inside a
    scope holding those objects; a function (``class_name`` ``'function'``)
    is looked up by name among the custom objects, then course_lib's
    activations, losses and metrics. A config without ``module`` (what
    course_lib's older ``serialize`` functions write) is looked up by its
    class name in each kind.

    Args:
        config: the dict (or a plain value, a list, or a name in the custom objects).
        custom_objects: optional ``{name: class or function}``.
        safe_mode: refuse lambdas' bytecode (``__lambda__``); an enclosing
            ``safe_mode_scope`` or ``config.enable_unsafe_deserialization()`` wins, as in Keras.
        module_objects: optional ``{name: class or function}`` looked up last
            (Keras's keyword for library code).

    Raises:
        TypeError: for a class or function that cannot be found, or a config of the wrong shape.
        ValueError: for a lambda in safe mode, or a config naming one of Keras's non-modeling functions.
    """
    from course_lib.layers import lambda_layer

    module_objects = kwargs.pop("module_objects", None)
    if kwargs:
        raise TypeError(f"deserialize_keras_object: unexpected keyword arguments {sorted(kwargs)}.")
    ambient = lambda_layer.in_safe_mode()
    safe_mode = ambient if ambient is not None else safe_mode
    objects = {**(module_objects or {}), **custom_objects_in_effect(custom_objects)}
    if config is None:
        return None
    if isinstance(config, str) and objects.get(config) is not None:
        return objects[config]
    if isinstance(config, (list, tuple)):
        return [deserialize_keras_object(item, objects, safe_mode) for item in config]
    if isinstance(config, _PLAIN_TYPES):
        return config
    if not isinstance(config, dict):
        raise TypeError(f"deserialize_keras_object: could not parse config: {config!r}")
    if "class_name" not in config or "config" not in config:
        return {key: deserialize_keras_object(value, objects, safe_mode) for key, value in config.items()}
    class_name, module = config["class_name"], config.get("module")
    inner = config["config"] if config["config"] is not None else {}
    if class_name in ("__numpy__", "__tensor__", "__bytes__", "__ellipsis__", "__slice__", "__lambda__"):
        return lambda_layer.deserialize_value(config, objects, safe_mode)
    if class_name == "function":
        return _retrieve_function(inner, module, config, objects)
    if not isinstance(inner, dict):
        raise TypeError(
            f"deserialize_keras_object: expected 'config' to be a dict for {class_name}. "
            f"Received: {type(inner).__name__}. Full config: {config}"
        )
    with CustomObjectScope(objects), lambda_layer.safe_mode_scope(safe_mode):
        return _deserialize_class(config, class_name, module, inner, objects)


def _retrieve_function(name, module, config, objects):
    from course_lib import activations, losses, metrics

    if not isinstance(name, str):
        raise TypeError(
            f"deserialize_keras_object: expected 'config' to be a function's name (a str). Received: {name!r}. "
            f"Full config: {config}"
        )
    if isinstance(module, str) and (module == "keras" or module.startswith("keras.")) \
            and f"{module}.{name}" in _NON_MODELING_APIS:
        raise ValueError(
            f"deserialize_keras_object: cannot deserialize `{module}.{name}` because it is not a modeling function. "
            "Non-modeling APIs are disallowed during deserialization for security."
        )
    found = objects.get(name)
    if found is None and (module in (None, "builtins") or str(module).startswith("keras")):
        if name in activations._BY_NAME:
            found = activations._BY_NAME[name]
        for kind in (losses, metrics):
            candidate = getattr(kind, name, None)
            if found is None and isinstance(candidate, types.FunctionType) and not name.startswith("_"):
                found = candidate
    if found is None:
        found = find_object(name, None, objects)
    if found is None:
        raise TypeError(
            f"deserialize_keras_object: could not locate function '{name}'. Make sure custom classes and functions "
            "are decorated with `@keras.saving.register_keras_serializable()`, or pass them in custom_objects. "
            f"Full object config: {config}"
        )
    return found


def _deserialize_class(config, class_name, module, inner, objects):
    from course_lib import layers

    cls = find_object(class_name, None, objects, config.get("registered_name"))
    if cls is not None and not (inspect.isclass(cls) and issubclass(cls, layers.Layer)):
        if isinstance(cls, types.FunctionType):
            return cls
        if not hasattr(cls, "from_config"):
            raise TypeError(
                f"deserialize_keras_object: unable to reconstruct an instance of '{class_name}' because the class "
                f"is missing a from_config() method. Full object config: {config}"
            )
        return cls.from_config(inner)
    if cls is not None or _is_layer_config(module, class_name):
        return layers.deserialize(config, objects)
    for public, kind in _kinds():
        if module == public or (module is None and _kind_has(kind, class_name)):
            deserialize = getattr(kind, "deserialize")
            if public in ("keras.optimizers", "keras.optimizers.schedules"):
                return deserialize(config)
            return deserialize(config, custom_objects=objects)
    raise TypeError(
        f"deserialize_keras_object: could not locate class '{class_name}' (module {module!r}). Make sure custom "
        "classes are decorated with `@keras.saving.register_keras_serializable()`, or pass them in custom_objects. "
        f"Full object config: {config}"
    )


def _is_layer_config(module, class_name):
    from course_lib import layers

    if isinstance(module, str) and (module in ("keras", "keras.layers", "keras.models")
                                    or module.startswith(("keras.src.models", "keras.src.layers"))):
        return True
    return module is None and (class_name in layers._CLASSES or class_name in ("Sequential", "Functional", "Model"))


def _kind_has(kind, class_name):
    value = getattr(kind, class_name, None)
    return inspect.isclass(value) and not class_name.startswith("_")


# --------------------------------------------------------------- .keras
def save_model(model, filepath, overwrite=True, zipped=None, **kwargs):
    """Save ``model`` to a Keras 3 ``.keras`` zip (``keras.saving.save_model`` and ``keras.models.save_model``;
    ``model.save`` calls it).

    Keras's arguments: ``save_format`` is deprecated there too (a warning when the file name says the
    format, an error otherwise); ``include_optimizer`` only matters for Keras's legacy ``.h5`` files,
    which course_lib does not write; ``zipped=False`` (an unzipped folder, Keras's choice for the
    Hugging Face Hub) is refused; any other keyword is an error, as in Keras.
    """
    kwargs.pop("include_optimizer", None)
    save_format = kwargs.pop("save_format", False)
    if kwargs:
        raise ValueError(f"save_model: the following argument(s) are not supported: {list(kwargs.keys())}")
    if save_format:
        if not os.fspath(filepath).endswith((".keras", ".h5", ".hdf5")):
            raise ValueError("save_model: the `save_format` argument is deprecated in Keras 3. Remove it and "
                             f"pass a file path ending in `.keras`. Received: save_format={save_format!r}")
        warnings.warn("save_model: the `save_format` argument is deprecated in Keras 3; the file name says the "
                      f"format. Received: save_format={save_format!r}", stacklevel=2)
    if zipped is False:
        raise ValueError("save_model: course_lib writes zipped `.keras` files only (Keras writes an unzipped "
                         "folder for the Hugging Face Hub). Received: zipped=False")
    filepath = _checked_path(filepath, (".keras",), "save", overwrite)
    from course_lib import layers

    document = layers.serialize(model)
    document["compile_config"] = model._compile_config() if model.compiled else None
    metadata = {
        "keras_version": FORMAT_KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        "producer": "course_lib",
    }
    with tempfile.TemporaryDirectory() as scratch:
        weights_path = os.path.join(scratch, "model.weights.h5")
        _write_h5(model, weights_path)
        with zipfile.ZipFile(filepath, "w") as archive:
            archive.writestr("metadata.json", json.dumps(metadata))
            archive.writestr("config.json", json.dumps(document, default=_json_default))
            archive.write(weights_path, "model.weights.h5")
            for path, layer in _layer_paths(model):
                if hasattr(layer, "save_assets"):
                    folder = os.path.join(scratch, "assets", path)
                    os.makedirs(folder, exist_ok=True)
                    layer.save_assets(folder)
                    for name in sorted(os.listdir(folder)):
                        if os.path.isfile(os.path.join(folder, name)):
                            archive.write(os.path.join(folder, name), f"assets/{path}/{name}")


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    filepath = os.fspath(filepath)
    if not zipfile.is_zipfile(filepath):
        raise ValueError(
            f"load_model: {filepath!r} is not a `.keras` file (a zip written by model.save(), "
            "in course_lib or Keras 3)."
        )
    from course_lib import layers
    from course_lib.layers import lambda_layer

    # As Keras: custom_objects, the global custom objects and an enclosing scope are seen by every
    # deserializer the model's config reaches (a layer's activation, a compiled loss), not only by the layers.
    with CustomObjectScope(custom_objects_in_effect(custom_objects)):
        with zipfile.ZipFile(filepath) as archive:
            names = set(archive.namelist())
            missing = {"config.json", "model.weights.h5"} - names
            if missing:
                raise ValueError(f"load_model: {filepath!r} lacks {sorted(missing)}; it is not a Keras 3 model file.")
            document = json.loads(archive.read("config.json"))
            with tempfile.TemporaryDirectory() as scratch:
                archive.extract("model.weights.h5", scratch)
                weights_path = os.path.join(scratch, "model.weights.h5")
                # A Python lambda's bytecode runs only if allowed. As in Keras, an enclosing safe_mode_scope (or
                # enable_unsafe_deserialization) wins over the argument.
                ambient = lambda_layer.in_safe_mode()
                with lambda_layer.safe_mode_scope(safe_mode if ambient is None else ambient):
                    model = layers.deserialize(document, custom_objects)
                _read_h5(model, weights_path, skip_mismatch=False)
                assets = [name for name in names if name.startswith("assets/") and not name.endswith("/")]
                archive.extractall(scratch, members=assets)
                for path, layer in _layer_paths(model):
                    if hasattr(layer, "load_assets"):
                        layer.load_assets(os.path.join(scratch, "assets", path))
                if compile and document.get("compile_config"):
                    model._compile_from_config(document["compile_config"])
                    _read_optimizer(model, weights_path)
    return model


# ------------------------------------------------------------- weights
def save_weights(model, filepath, overwrite=True):
    _write_h5(model, _checked_path(filepath, (".weights.h5",), "save_weights", overwrite))


def load_weights(model, filepath, skip_mismatch=False):
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        with zipfile.ZipFile(filepath) as archive, tempfile.TemporaryDirectory() as scratch:
            archive.extract("model.weights.h5", scratch)
            _read_h5(model, os.path.join(scratch, "model.weights.h5"), skip_mismatch)
            _read_optimizer_for_weights(model, os.path.join(scratch, "model.weights.h5"))
        return
    if filepath.endswith((".h5", ".hdf5")) and not filepath.endswith(".weights.h5"):
        _read_legacy_h5(model, filepath, skip_mismatch)
        return
    if not filepath.endswith(".weights.h5"):
        raise ValueError(
            "load_weights: the file name must end in `.weights.h5` (or `.keras`, or the legacy `.h5`), "
            f"as in Keras 3. Received: filepath={filepath!r}"
        )
    _read_h5(model, filepath, skip_mismatch)
    _read_optimizer_for_weights(model, filepath)


def _read_legacy_h5(model, filepath, skip_mismatch=False):
    """Keras 2's HDF5 weights (``model.save("x.h5")``, the published ImageNet files), by order.

    As Keras's legacy loader: the file's layers that hold weights are matched, in order, with
    the model's layers that hold weights; each layer's values come in its ``weight_names`` order
    (trainable first, as :attr:`Layer.weights` lists them).
    """
    import h5py

    def strings(group, attribute):
        return [v.decode("utf8") if isinstance(v, bytes) else str(v) for v in group.attrs.get(attribute, [])]

    with h5py.File(filepath, "r") as handle:
        group = handle["model_weights"] if "model_weights" in handle else handle
        if "layer_names" not in group.attrs:
            raise ValueError(
                f"load_weights: {filepath!r} is not a Keras HDF5 weights file (no 'layer_names' attribute)."
            )
        stored = [(name, [group[name][w][()] for w in strings(group[name], "weight_names")])
                  for name in strings(group, "layer_names")]
    stored = [(name, values) for name, values in stored if values]
    layers = [layer for layer in model.layers if layer.weights]
    if len(stored) != len(layers):
        raise ValueError(
            f"load_weights: layer count mismatch: the model has {len(layers)} layers with weights "
            f"({[layer.name for layer in layers]}), the file {filepath!r} has {len(stored)} "
            f"({[name for name, _ in stored]})."
        )
    for (name, values), layer in zip(stored, layers):
        shapes = [tuple(w.shape) for w in layer.weights]
        if [v.shape for v in values] != shapes:
            if skip_mismatch:
                continue
            raise ValueError(
                f"load_weights: layer '{layer.name}' expects weights of shapes {shapes}; the file's "
                f"layer '{name}' has {[v.shape for v in values]}."
            )
        layer.set_weights(values)


def keras_ordered_variables(layer):
    """A layer's own variables in Keras's saving order: created trainable first, then the others."""
    if layer.saving_children():
        return [], []  # its weights are its sublayers' and are saved in their groups
    names = [n for n in layer._params if n in layer._trainable_names]
    names += [n for n in layer._params if n not in layer._trainable_names]
    return names, [layer._params[n] for n in names]


def _child_paths(model):
    """``(path, layer)`` for the layers of ``model`` as Keras names their groups."""
    used = {}
    for layer in model.layers:
        base = _saving_class_name(layer)
        count = used.get(base)
        used[base] = 0 if count is None else count + 1
        yield (base if count is None else f"{base}_{count + 1}"), layer


def _layer_paths(model, prefix=""):
    """``(path, layer)`` for every layer and sublayer of ``model``, as Keras names them in a file's assets."""
    from course_lib import models

    for path, layer in _child_paths(model):
        full = f"{prefix}layers/{path}"
        if isinstance(layer, models.Model):
            yield from _layer_paths(layer, f"{full}/")
            continue
        yield full, layer
        stack = [(f"{full}/{name}", child) for name, child in layer.saving_children()]
        while stack:
            child_path, child = stack.pop(0)
            yield child_path, child
            stack.extend((f"{child_path}/{name}", grandchild) for name, grandchild in child.saving_children())


def _saving_class_name(layer):
    from course_lib import models

    if isinstance(layer, models.Sequential):
        return "sequential"
    if isinstance(layer, models.Model):
        return "functional"
    # Keras names a layer's group after its Python class, which may differ from its public name
    # (GroupQueryAttention is Keras's class GroupedQueryAttention): such a layer says so.
    return getattr(type(layer), "_keras_saving_name", None) or backend.snake_case(type(layer).__name__)


def _write_h5(model, filepath):
    import h5py

    from course_lib import models

    def write(layer, group):
        variables = group.create_group("vars")
        variables.attrs["name"] = layer.name
        if not isinstance(layer, models.Model):
            if hasattr(layer, "save_own_variables"):  # Keras's hook: variables by key, not by position
                store = {}
                layer.save_own_variables(store)
                for key, value in store.items():
                    variables.create_dataset(key, data=backend.to_numpy(value))
            for index, value in enumerate(keras_ordered_variables(layer)[1]):
                variables.create_dataset(str(index), data=backend.to_numpy(value))
            for name, child in layer.saving_children():
                write(child, group.create_group(name))
            return
        children = group.create_group("layers")
        for path, child in _child_paths(layer):
            write(child, children.create_group(path))

    with h5py.File(filepath, "w") as handle:
        write(model, handle)
        optimizer = getattr(model, "optimizer", None)
        if getattr(model, "compiled", False) and optimizer is not None:
            state = _optimizer_state(model)
            group = handle.create_group("optimizer")
            # Keras writes a wrapper's inner optimizers' variables again, each in a group of its own.
            for path, name, values in optimizer._nested_saved_groups():
                _write_values(group.require_group(path).create_group("vars"), name,
                              [backend.to_numpy(value) for value in values])
            _write_values(group.create_group("vars"), optimizer.name, state)


def _write_values(group, name, values):
    group.attrs["name"] = name
    for index, value in enumerate(values):
        group.create_dataset(str(index), data=value)


def optimizer_variables(optimizer):
    """An optimizer's variables as Keras saves and counts them (``model.summary``'s "Optimizer params").

    The iteration count (int64), the learning rate unless it is a schedule
    (float32), then each weight's slots (arrays of the active array module).
    """
    return optimizer._saved_variables()


def _optimizer_state(model):
    """The optimizer's variables as NumPy arrays, built for the model's weights if it was not yet."""
    model.optimizer.build(model.trainable_weights)
    return [backend.to_numpy(value) for value in optimizer_variables(model.optimizer)]


def _stored_optimizer_values(filepath):
    """The values under ``optimizer/vars`` of a weights file, in order, or None where it has none."""
    import h5py

    with h5py.File(filepath, "r") as handle:
        if "optimizer" not in handle or "vars" not in handle["optimizer"]:
            return None
        stored = handle["optimizer"]["vars"]
        return [stored[str(index)][()] for index in range(len(stored))]


def _assign_optimizer_state(optimizer, values, current, where, filepath):
    """Put ``values`` (Keras's order: iterations, the rate unless scheduled, the slots) into the optimizer."""
    for index, (value, target) in enumerate(zip(values, current)):
        if value.shape != target.shape:
            raise ValueError(
                f"{where}: optimizer '{optimizer.name}' variable {index} has shape {tuple(target.shape)}, "
                f"but {filepath!r} has {tuple(value.shape)} at 'optimizer/vars/{index}'.")
    optimizer._assign_saved_variables(values)


def _read_optimizer(model, filepath):
    """load_model: the optimizer is built for the model's weights first, then given the file's state."""
    import warnings

    values = _stored_optimizer_values(filepath)
    if values is None:
        return
    optimizer = model.optimizer
    expected = _optimizer_state(model)
    counters = optimizer._counter_count()
    if len(values) == counters:
        expected = expected[:counters]  # saved before its first step: no slots yet, as Keras writes it
    if len(values) != len(expected) or any(v.shape != e.shape for v, e in zip(values, expected)):
        warnings.warn(
            f"load_model: skipping the optimizer state: '{optimizer.name}' has {len(expected)} "
            f"variables, the file {len(values)}; training resumes from a fresh optimizer state.",
            stacklevel=3,
        )
        return
    _assign_optimizer_state(optimizer, values, expected, "load_model", filepath)


def _read_optimizer_for_weights(model, filepath):
    """load_weights, as Keras: a compiled model's optimizer takes the file's state when the counts agree.

    An optimizer not yet built has only its counters (the iterations and the rate), so a file
    saved after training is skipped with Keras's warning until the optimizer has taken a step.
    """
    import warnings

    optimizer = getattr(model, "optimizer", None)
    if not getattr(model, "compiled", False) or optimizer is None:
        return
    values = _stored_optimizer_values(filepath)
    if values is None:
        return
    current = optimizer_variables(optimizer)  # an optimizer not yet built: only its counters
    if len(values) != len(current):
        warnings.warn(
            f"Skipping variable loading for optimizer '{optimizer.name}', because it has "
            f"{len(current)} variables whereas the saved optimizer has {len(values)} variables. ",
            stacklevel=4,  # the caller of Model.load_weights
        )
        return
    _assign_optimizer_state(optimizer, values, current, "load_weights", filepath)


def _read_h5(model, filepath, skip_mismatch):
    import h5py

    from course_lib import models

    def read(layer, group, path):
        if not isinstance(layer, models.Model):
            names, targets = keras_ordered_variables(layer)
            stored = group["vars"] if "vars" in group else {}
            if hasattr(layer, "load_own_variables"):  # Keras's hook: variables by key
                layer.load_own_variables({key: stored[key][()] for key in stored})
                stored = {}
            if len(stored) != len(targets):
                if skip_mismatch:
                    return
                raise ValueError(
                    f"load_weights: layer '{layer.name}' ({type(layer).__name__}) has {len(targets)} "
                    f"variables, but the file has {len(stored)} at '{path}/vars'."
                )
            values = [stored[str(index)][()] for index in range(len(targets))]
            for name, target, value in zip(names, targets, values):
                if value.shape != target.shape:
                    if skip_mismatch:
                        return
                    raise ValueError(
                        f"load_weights: layer '{layer.name}' weight '{name}' has shape {target.shape}, "
                        f"but the file has {value.shape} at '{path}/vars'."
                    )
            for target, value in zip(targets, values):
                target[...] = backend.xp.asarray(value)
            for name, child in layer.saving_children():
                if name not in group:
                    if skip_mismatch:
                        continue
                    raise ValueError(
                        f"load_weights: the file has no entry '{path}/{name}' for the weights of layer "
                        f"'{layer.name}' ({type(layer).__name__}); it was saved from a different architecture."
                    )
                read(child, group[name], f"{path}/{name}")
            return
        children = group["layers"] if "layers" in group else {}
        for child_path, child in _child_paths(layer):
            full = f"{path}/layers/{child_path}".lstrip("/")
            if child_path not in children:
                if not child._params and not isinstance(child, models.Model):
                    continue  # nothing to load (an Input, a Dropout ...)
                if skip_mismatch:
                    continue
                raise ValueError(
                    f"load_weights: the file has no entry '{full}' for layer '{child.name}' "
                    f"({type(child).__name__}); it was saved from a different architecture."
                )
            read(child, children[child_path], full)

    with h5py.File(filepath, "r") as handle:
        read(model, handle, "")


def _checked_path(filepath, endings, where, overwrite):
    filepath = os.fspath(filepath)
    if not filepath.endswith(endings):
        raise ValueError(
            f"{where}: the file name must end in {' or '.join(f'`{e}`' for e in endings)}, as in Keras 3. "
            f"Received: filepath={filepath!r}"
        )
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{where}: {filepath!r} exists and overwrite=False.")
    return filepath


def _json_default(value):
    if hasattr(value, "tolist"):
        return backend.to_numpy(value).tolist()
    raise TypeError(f"saving: cannot write {type(value).__name__} into config.json: {value!r}")
