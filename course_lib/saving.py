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
import json
import os
import tempfile
import zipfile

from course_lib import backend

FORMAT_KERAS_VERSION = "3.15.1"
"""The Keras release whose file format these files follow."""

_REGISTERED = {}


def register_keras_serializable(package="Custom", name=None):
    """Decorator: let :func:`load_model` rebuild a custom layer or model from its name.

    As Keras's: the class is registered as ``"package>name"`` (``name`` defaults
    to the class name), and found again without ``custom_objects``.
    """
    def decorate(cls):
        registered = f"{package}>{name or cls.__name__}"
        if registered in _REGISTERED and _REGISTERED[registered] is not cls:
            raise ValueError(f"register_keras_serializable: {registered!r} is already registered.")
        _REGISTERED[registered] = cls
        cls._registered_name = registered
        return cls

    return decorate


def registered_objects():
    """``{registered name: class}`` for every class registered with :func:`register_keras_serializable`."""
    return dict(_REGISTERED)


# --------------------------------------------------------------- .keras
def save_model(model, filepath, overwrite=True):
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
    return backend.snake_case(type(layer).__name__)


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
            group = handle.create_group("optimizer").create_group("vars")
            group.attrs["name"] = optimizer.name
            for index, value in enumerate(_optimizer_state(model)):
                group.create_dataset(str(index), data=value)


def optimizer_variables(optimizer):
    """An optimizer's variables as Keras saves and counts them (``model.summary``'s "Optimizer params").

    The iteration count (int64), the learning rate unless it is a schedule
    (float32), then each weight's slots (arrays of the active array module).
    """
    import numpy

    counters = [numpy.asarray(optimizer.iterations, dtype="int64")]
    if not _has_schedule(optimizer):
        counters.append(numpy.asarray(optimizer.learning_rate, dtype="float32"))
    return counters + list(optimizer.variables)


def _optimizer_state(model):
    """The optimizer's variables as NumPy arrays, built for the model's weights if it was not yet."""
    model.optimizer.build(model.trainable_weights)
    return [backend.to_numpy(value) for value in optimizer_variables(model.optimizer)]


def _has_schedule(optimizer):
    from course_lib.optimizers import LearningRateSchedule

    return isinstance(optimizer._learning_rate, LearningRateSchedule)


def _read_optimizer(model, filepath):
    import warnings

    import h5py

    with h5py.File(filepath, "r") as handle:
        if "optimizer" not in handle or "vars" not in handle["optimizer"]:
            return
        stored = handle["optimizer"]["vars"]
        values = [stored[str(index)][()] for index in range(len(stored))]
    optimizer = model.optimizer
    expected = _optimizer_state(model)
    counters = 1 if _has_schedule(optimizer) else 2
    if len(values) == counters:
        expected = expected[:counters]  # saved before its first step: no slots yet, as Keras writes it
    if len(values) != len(expected) or any(v.shape != e.shape for v, e in zip(values, expected)):
        warnings.warn(
            f"load_model: skipping the optimizer state: '{optimizer.name}' has {len(expected)} "
            f"variables, the file {len(values)}; training resumes from a fresh optimizer state.",
            stacklevel=3,
        )
        return
    optimizer.iterations = int(values[0])
    slots = values[1:]
    if not _has_schedule(optimizer):
        optimizer.learning_rate = float(slots[0])
        slots = slots[1:]
    for target, value in zip(optimizer.variables, slots):
        target[...] = backend.xp.asarray(value)


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
