"""Callbacks: code that fit, evaluate and predict call at fixed points (训练回调).

Hooks, as in Keras: ``on_train_begin/end``, ``on_epoch_begin/end``,
``on_train_batch_begin/end`` (which call ``on_batch_begin/end``, their Keras 2
names), ``on_test_begin/end``, ``on_test_batch_begin/end``,
``on_predict_begin/end``, ``on_predict_batch_begin/end``. Every hook gets a
``logs`` dict such as ``{'loss': 0.3, 'val_loss': 0.4}`` (``{}`` when there is
nothing to report; ``{'outputs': ...}`` after a predict batch).
"""
from __future__ import annotations

import csv
import json
import math
import numbers
import operator
import os
import shutil
import time
import warnings

from course_lib import backend
from course_lib.utils.progbar import Progbar, print_msg


class Callback:
    """Base class: override the hooks you need; ``self.model`` is the model being trained."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = dict(params)

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass

    # As in Keras 3, the train-batch hooks call the older names on_batch_begin/end.
    def on_train_batch_begin(self, batch, logs=None):
        self.on_batch_begin(batch, logs=logs)

    def on_train_batch_end(self, batch, logs=None):
        self.on_batch_end(batch, logs=logs)

    def on_test_begin(self, logs=None): pass
    def on_test_end(self, logs=None): pass
    def on_test_batch_begin(self, batch, logs=None): pass
    def on_test_batch_end(self, batch, logs=None): pass
    def on_predict_begin(self, logs=None): pass
    def on_predict_end(self, logs=None): pass
    def on_predict_batch_begin(self, batch, logs=None): pass
    def on_predict_batch_end(self, batch, logs=None): pass


_EPOCH_HOOKS = ("on_epoch_begin", "on_epoch_end")
_BATCH_HOOKS = tuple(
    f"on_{stage}_batch_{when}" for stage in ("train", "test", "predict") for when in ("begin", "end")
)
_RUN_HOOKS = tuple(
    f"on_{stage}_{when}" for stage in ("train", "test", "predict") for when in ("begin", "end")
)


class CallbackList:
    """Calls every callback's hook in order, always with a ``logs`` dict (``{}`` when empty), as Keras does."""

    def __init__(self, callbacks, model, params):
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "callbacks: every entry must be a course_lib.callbacks.Callback. "
                    f"Received: {callback!r}"
                )
            callback.set_model(model)
            callback.set_params(params)

    def __getattr__(self, hook):
        # One dict per hook call, shared by the callbacks in order (as Keras): what one adds
        # (LearningRateScheduler's learning_rate) the next ones, History included, see.
        if hook in _RUN_HOOKS:
            def call_all(logs=None):
                shared = dict(logs or {})
                for callback in self.callbacks:
                    getattr(callback, hook)(shared)
        elif hook in _EPOCH_HOOKS:
            def call_all(epoch, logs=None):
                shared = dict(logs or {})
                for callback in self.callbacks:
                    getattr(callback, hook)(epoch, shared)
        elif hook in _BATCH_HOOKS:
            def call_all(batch, logs=None):
                shared = dict(logs or {})
                for callback in self.callbacks:
                    getattr(callback, hook)(batch, logs=shared)
        else:
            raise AttributeError(hook)
        return call_all


class TerminateOnNaN(Callback):
    """Stop training when a batch's loss is NaN or infinite (as Keras's callback).

    Args:
        raise_error: False stops gracefully (``model.stop_training = True``,
            so every callback's ``on_train_end`` still runs); True raises a
            ``RuntimeError`` at once.
    """

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = bool(raise_error)

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            if self.raise_error:
                raise RuntimeError(
                    f"NaN or Inf loss encountered at batch {batch}. "
                    f"Loss value: {loss}. Terminating training immediately."
                )
            print_msg(f"Batch {batch}: Invalid loss, terminating training")
            self.model.stop_training = True


class History(Callback):
    """Records every epoch's logs; ``fit`` returns it. ``history.history['loss']`` is a list."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for name, value in (logs or {}).items():
            self.history.setdefault(name, []).append(value)


class ProgbarLogger(Callback):
    """Prints ``Epoch 1/5`` and a progress bar per epoch (``verbose`` 1 or 2)."""

    def __init__(self, verbose=1):
        super().__init__()
        self.verbose = verbose
        self.progbar = None
        self.seen = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.verbose:
            print_msg(f"Epoch {epoch + 1}/{self.params.get('epochs', 1)}")
            self.progbar = Progbar(self.params.get("steps"), verbose=self.verbose, stateless_metrics=set())

    def on_train_batch_end(self, batch, logs=None):
        self.seen = batch + 1
        if self.progbar is not None and self.verbose == 1:
            self.progbar.update(batch + 1, sorted((logs or {}).items()), finalize=False)

    def on_epoch_end(self, epoch, logs=None):
        if self.progbar is not None:
            steps = self.params.get("steps") or self.seen
            self.progbar.target = steps
            self.progbar.update(steps, sorted((logs or {}).items()), finalize=True)


class MonitorCallback(Callback):
    """Base of the callbacks that watch one logged value (Keras's MonitorCallback).

    Args:
        monitor: the logs key, e.g. ``'val_loss'``.
        mode: ``'min'``, ``'max'`` or ``'auto'``: as Keras, 'loss' is minimised,
            a compiled metric gives its own direction, anything else raises at
            the first epoch's end; an unknown mode warns and falls back to 'auto'.
        min_delta: an improvement must beat the best value by MORE than this.
    """

    def __init__(self, monitor="val_loss", mode="auto", min_delta=0):
        super().__init__()
        if mode not in ("auto", "min", "max"):
            warnings.warn(f"{type(self).__name__} mode '{mode}' is unknown, fallback to auto mode.",
                          stacklevel=3)
            mode = "auto"
        self.monitor = monitor
        self.mode = mode
        self.min_delta = abs(min_delta)
        self._compare = None  # set at the first epoch's end, once the metrics exist (as Keras)

    def _set_monitor_op(self):
        """Keras's rule for mode='auto': 'loss' is minimised; a compiled metric tells its direction."""
        maximize = None
        if self.mode != "auto":
            maximize = self.mode == "max"
        else:
            name = self.monitor.removeprefix("val_")
            if name == "loss":
                maximize = False
            for _, _, metric in getattr(self.model, "_metric_objects", None) or []:
                if metric.name == name and metric._direction is not None:
                    maximize = metric._direction == "up"
            if maximize is None:
                raise ValueError(
                    f"{type(self).__name__} callback received monitor={self.monitor}, but course_lib (like Keras) "
                    "isn't able to automatically determine whether that metric should be maximized or "
                    "minimized. Pass `mode='max'` in order to monitor based on the highest metric value, "
                    "or pass `mode='min'` in order to use the lowest value."
                )
        self._compare = operator.gt if maximize else operator.lt
        self._delta = self.min_delta if maximize else -self.min_delta

    def _is_improvement(self, value, reference):
        # Strict: equal to the best (within min_delta) is not an improvement.
        return reference is None or self._compare(value - self._delta, reference)


class EarlyStopping(MonitorCallback):
    """Stop training when a monitored value has stopped improving (早停).

    Args:
        monitor: the logs key to watch, e.g. ``'val_loss'`` or ``'val_accuracy'``.
        min_delta: an improvement must beat the best value by MORE than this.
        patience: epochs without improvement before stopping.
        verbose: 1 prints a message when training stops or weights are restored.
        mode: ``'min'``, ``'max'`` or ``'auto'`` (as Keras: 'loss' is minimised, a compiled metric
            gives its own direction, anything else raises at the first epoch's end; an unknown
            mode warns and falls back to 'auto').
        baseline: training stops if the value does not beat this within ``patience`` epochs.
        restore_best_weights: put back the weights of the best epoch when training
            ends (even when it never stopped early, as Keras does).
        start_from_epoch: epochs to wait before watching at all.
    """

    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__(monitor, mode, min_delta)
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0. Received: patience={patience!r}")
        self.patience = patience
        self.verbose = verbose
        self.baseline = baseline
        self.restore_best_weights = restore_best_weights
        self.start_from_epoch = start_from_epoch

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = 0
        self.best = None
        self.best_weights = None
        self.best_epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._compare is None:
            self._set_monitor_op()
        if self.monitor not in logs:
            # As Keras: warn and skip (with validation_freq > 1 some epochs have no val_ keys).
            warnings.warn(
                f"EarlyStopping: monitor={self.monitor!r} is not in this epoch's logs, so the "
                f"epoch is skipped. Available keys: {sorted(logs)}",
                stacklevel=2,
            )
            return
        current = logs[self.monitor]
        if epoch < self.start_from_epoch:
            return
        if self.restore_best_weights and self.best_weights is None:
            self.best_weights = self.model.get_weights()
            self.best_epoch = epoch
        self.wait += 1
        if self._is_improvement(current, self.best):
            self.best = current
            self.best_epoch = epoch
            if self.restore_best_weights:
                self.best_weights = self.model.get_weights()
            if self.baseline is None or self._is_improvement(current, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0:
            self.stopped_epoch = epoch
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        if self.stopped_epoch > 0 and self.verbose > 0:
            print_msg(f"Epoch {self.stopped_epoch + 1}: early stopping")
        if self.restore_best_weights and self.best_weights is not None:
            if self.verbose > 0:
                print_msg(f"Restoring model weights from the end of the best epoch: {self.best_epoch + 1}.")
            self.model.set_weights(self.best_weights)


class ModelCheckpoint(MonitorCallback):
    """Save the model (``.keras``) or its weights (``.weights.h5``) at the end of epochs (模型检查点).

    Args:
        filepath: may hold ``{epoch}`` and any logs key, e.g.
            ``"ckpt-{epoch:02d}-{val_loss:.2f}.keras"``.
        monitor, mode: what ``save_best_only`` watches (see :class:`MonitorCallback`).
        save_best_only: save only when the monitored value improves.
        save_weights_only: ``save_weights`` instead of ``save`` (the name must end in ``.weights.h5``).
        save_freq: ``"epoch"``, or an int: every that many batches.
        initial_value_threshold: the value the first improvement must beat.
    """

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch", initial_value_threshold=None):
        super().__init__(monitor, mode)
        self.filepath = os.fspath(filepath)
        self.verbose, self.save_best_only, self.save_weights_only = verbose, save_best_only, save_weights_only
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(f"Unrecognized save_freq: {save_freq}. Expected save_freq are 'epoch' or integer values")
        self.save_freq = save_freq
        self.best = initial_value_threshold
        ending = ".weights.h5" if save_weights_only else ".keras"
        if not self.filepath.endswith(ending):
            raise ValueError(
                f"ModelCheckpoint: with save_weights_only={save_weights_only} the filepath must end in "
                f"`{ending}` (Keras's format). Received: filepath={self.filepath}"
            )
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.save_freq != "epoch":
            self._batches += 1
            if self._batches >= self.save_freq:
                self._batches = 0
                self._save(self._epoch, batch, logs or {})

    def on_epoch_end(self, epoch, logs=None):
        if self._compare is None:
            self._set_monitor_op()
        if self.save_freq == "epoch":
            self._save(epoch, None, logs or {})

    def _save(self, epoch, batch, logs):
        try:
            extra = {} if batch is None or "batch" in logs else {"batch": batch + 1}
            filepath = self.filepath.format(epoch=epoch + 1, **extra, **logs)
        except KeyError as error:
            raise KeyError(f'Failed to format this callback filepath: "{self.filepath}". Reason: {error}') from None
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"Can save best model only with {self.monitor} available, skipping.", stacklevel=2)
                return
            if self._compare is None:
                self._set_monitor_op()
            if not self._is_improvement(current, self.best):
                if self.verbose > 0:
                    print_msg(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from {self.best:.5f}")
                return
            if self.verbose > 0:
                best = "inf" if self.best is None else f"{self.best:.5f}"
                print_msg(f"\nEpoch {epoch + 1}: {self.monitor} improved from {best} to {current:.5f}, "
                      f"saving model to {filepath}")
            self.best = current
        elif self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: saving model to {filepath}")
        if self.save_weights_only:
            self.model.save_weights(filepath, overwrite=True)
        else:
            self.model.save(filepath, overwrite=True)


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch from ``schedule(epoch, lr)`` (or ``schedule(epoch)``)."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def on_epoch_begin(self, epoch, logs=None):
        learning_rate = float(self.model.optimizer.learning_rate)
        try:
            learning_rate = self.schedule(epoch, learning_rate)
        except TypeError:  # the older one-argument schedules, as Keras accepts them
            learning_rate = self.schedule(epoch)
        if isinstance(learning_rate, numbers.Integral) or not isinstance(learning_rate, numbers.Real):
            raise ValueError(f"The output of the `schedule` function should be a float. Got: {learning_rate}")
        self.model.optimizer.learning_rate = learning_rate
        if self.verbose > 0:
            print_msg(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to {learning_rate}.")

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = float(self.model.optimizer.learning_rate)


class ReduceLROnPlateau(MonitorCallback):
    """Multiply the learning rate by ``factor`` once ``monitor`` has not improved for ``patience`` epochs."""

    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0):
        super().__init__(monitor, mode, min_delta)
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0. Received factor={factor}")
        self.factor, self.min_lr, self.patience = factor, min_lr, patience
        self.verbose, self.cooldown = verbose, cooldown
        self._reset()

    def _reset(self):
        self.best, self.cooldown_counter, self.wait = None, 0, 0

    def on_train_begin(self, logs=None):
        self._reset()

    def on_epoch_end(self, epoch, logs=None):
        if self._compare is None:
            self._set_monitor_op()
        logs = logs if logs is not None else {}
        optimizer = self.model.optimizer
        logs["learning_rate"] = float(optimizer.learning_rate)
        current = logs.get(self.monitor)
        if current is None:
            warnings.warn(f"Learning rate reduction is conditioned on metric `{self.monitor}` which is not "
                          f"available. Available metrics are: {','.join(logs)}.", stacklevel=2)
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if self._is_improvement(current, self.best):
            self.best, self.wait = current, 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(optimizer.learning_rate)
                if old > backend.to_float(backend.xp.float32(self.min_lr)):  # Keras compares in float32
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print_msg(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate to {new}.")
                    self.cooldown_counter, self.wait = self.cooldown, 0


class CSVLogger(Callback):
    """Write each epoch's logs as a row of a CSV file (``epoch`` first, then the keys sorted)."""

    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename, self.separator, self.append = os.fspath(filename), separator, append
        self._file = self._writer = self._keys = None

    def on_train_begin(self, logs=None):
        header = True
        if self.append and os.path.exists(self.filename):
            with open(self.filename) as existing:
                header = not existing.readline()
        self._header = header
        self._file = open(self.filename, "a" if self.append else "w", newline="")
        self._writer = self._keys = None

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._keys is None:
            self._keys = sorted(logs)
            if self._keys and not any(key.startswith("val_") for key in self._keys):
                self._keys += [f"val_{key}" for key in self._keys]
        if self._writer is None:
            self._writer = csv.DictWriter(self._file, fieldnames=["epoch"] + self._keys, delimiter=self.separator)
            if self._header:
                self._writer.writeheader()
        self._writer.writerow({"epoch": epoch, **{key: logs.get(key, "NA") for key in self._keys}})
        self._file.flush()

    def on_train_end(self, logs=None):
        if self._file is not None and not self._file.closed:
            self._file.close()
        self._writer = None


class RemoteMonitor(Callback):
    """Send each epoch's logs to a server over HTTP (远程监控), as Keras's callback sends them.

    At each epoch's end, ``{"epoch": epoch, **logs}`` is POSTed to ``root + path``:
    as a form with one field, ``field=<the dict as JSON>``, or, with
    ``send_as_json``, as a JSON body. A server that cannot be reached gives a
    warning, not an error: training goes on. Written with the standard library
    (Keras needs ``requests``).

    Args:
        root: the server's address, ``"http://localhost:9000"`` by default.
        path: the path on it, ``"/publish/epoch/end/"`` by default.
        field: the form field that carries the JSON, ``"data"`` by default.
        headers: extra HTTP headers, a dict.
        send_as_json: send the dict itself as ``application/json``.
    """

    def __init__(self, root="http://localhost:9000", path="/publish/epoch/end/", field="data", headers=None,
                 send_as_json=False):
        super().__init__()
        if headers is not None and not isinstance(headers, dict):
            raise TypeError(f"RemoteMonitor: headers must be a dict or None. Received: headers={headers!r}")
        self.root, self.path, self.field, self.headers = root, path, field, headers
        self.send_as_json = send_as_json

    def on_epoch_end(self, epoch, logs=None):
        import urllib.error
        import urllib.parse
        import urllib.request

        send = {"epoch": epoch}
        for key, value in (logs or {}).items():
            send[key] = value.item() if hasattr(value, "item") and getattr(value, "size", 1) == 1 else value
        if self.send_as_json:
            body, kind = json.dumps(send, allow_nan=False).encode(), "application/json"
        else:
            body, kind = urllib.parse.urlencode({self.field: json.dumps(send)}).encode(), \
                "application/x-www-form-urlencoded"
        request = urllib.request.Request(self.root + self.path, data=body, method="POST",
                                         headers={"Content-Type": kind, **(self.headers or {})})
        try:
            with urllib.request.urlopen(request, timeout=10):
                pass
        except urllib.error.HTTPError:
            pass  # the server answered (with an error status): as Keras, whose requests.post does not check it
        except (urllib.error.URLError, OSError, ValueError):
            warnings.warn(f"Could not reach RemoteMonitor root server at {self.root}", stacklevel=2)


class TensorBoard(Callback):
    """Log training for TensorBoard (训练可视化): the files Keras's callback writes, without TensorFlow.

    ``tensorboard --logdir <log_dir>`` then draws them. Under ``log_dir``, as in
    Keras: ``train/`` holds ``epoch_<metric>`` for each training metric and
    ``epoch_learning_rate`` (step: the epoch), ``batch_<metric>`` every
    ``update_freq`` batches (step: the batch count since ``fit`` began), a
    weight histogram ``<weight path>/histogram`` every ``histogram_freq``
    epochs, and, with ``write_graph``, the model's JSON (tag ``keras``, the
    Graphs dashboard's conceptual graph). ``validation/`` holds the
    validation metrics as ``epoch_<metric>`` (the ``val_`` dropped) and
    ``evaluation_<metric>_vs_iterations`` (step: the optimizer's iterations).
    ``write_steps_per_second`` adds ``epoch_steps_per_second`` (and
    ``batch_steps_per_second``); ``embeddings_freq`` writes
    ``projector_config.pbtxt`` for the Embedding layers and the weights every
    ``embeddings_freq`` epochs, for the Projector.

    One of Keras's odd corners, kept: with ``update_freq`` a number ``n``, every
    summary (the epoch ones included) is written only when the batch count at
    the last batch of its stage is a multiple of ``n`` (Keras's ``record_if``
    stays active at the epoch's end), so an epoch whose count is not a multiple
    of ``n`` logs nothing.

    Where course_lib differs: there is no TensorFlow graph to log (Keras's
    ``write_graph`` also writes its ``train_function``'s ops when it is a
    ``tf.function``), and ``profile_batch`` must be 0, as Keras itself requires
    on its NumPy backend: course_lib has no profiler.

    Args:
        log_dir: the directory of the logs, ``"logs"`` by default.
        histogram_freq: weight histograms every this many epochs (0: none).
        write_graph: log the model's JSON, True by default.
        write_images: also log each weight as an image (with ``histogram_freq``).
        write_steps_per_second: log the training speed.
        update_freq: ``"epoch"`` (default), ``"batch"`` or a number ``n`` of batches.
        profile_batch: 0 (course_lib has no profiler).
        embeddings_freq: Projector files every this many epochs (0: none).
        embeddings_metadata: a metadata file for every Embedding layer, or a dict by layer name.
    """

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0, embeddings_freq=0,
                 embeddings_metadata=None):
        super().__init__()
        for name, value in (("histogram_freq", histogram_freq), ("embeddings_freq", embeddings_freq)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
                raise ValueError(f"TensorBoard: {name} must be an int >= 0 (epochs). Received: {name}={value!r}")
        if update_freq == "batch":
            update_freq = 1
        elif update_freq != "epoch" and (isinstance(update_freq, bool) or not isinstance(update_freq, numbers.Integral)
                                         or update_freq < 1):
            raise ValueError("TensorBoard: update_freq must be 'epoch', 'batch' or a positive int (batches). "
                             f"Received: update_freq={update_freq!r}")
        if profile_batch not in (0, "0", (0, 0), [0, 0], "0,0"):
            raise ValueError(
                "TensorBoard: profiling is not available in course_lib (Keras refuses it on its NumPy backend "
                f"too): profile_batch must be 0. Received: profile_batch={profile_batch!r}"
            )
        self.log_dir = os.fspath(log_dir)
        self.histogram_freq, self.embeddings_freq = int(histogram_freq), int(embeddings_freq)
        self.write_graph, self.write_images = bool(write_graph), bool(write_images)
        self.write_steps_per_second = bool(write_steps_per_second)
        self.update_freq, self.embeddings_metadata = update_freq, embeddings_metadata
        self._writers = {}
        self._recording = []  # the batch counts pushed at each batch, as Keras's record_if stack
        self._global_train_batch = self._global_test_batch = 0

    # -------------------------------------------------------------- writers
    def _writer(self, stage):
        from course_lib.utils.event_files import EventFileWriter

        if stage not in self._writers:
            folder = "train" if stage == "train" else "validation"
            self._writers[stage] = EventFileWriter(os.path.join(self.log_dir, folder))
        return self._writers[stage]

    def _records(self):
        """Keras's record_if: with update_freq n, only while the last pushed batch count is a multiple of n."""
        if self.update_freq == "epoch" or not self._recording:
            return True
        return self._recording[-1] % self.update_freq == 0

    def _push(self, count):
        if self.update_freq != "epoch":
            self._recording.append(count)

    def _pop(self):
        if self.update_freq != "epoch" and self._recording:
            self._recording.pop()

    def _scalar(self, stage, tag, value, step):
        if self._records():
            self._writer(stage).scalar(tag, value, step)

    def _close(self):
        for writer in self._writers.values():
            writer.close()

    # ---------------------------------------------------------------- hooks
    def set_model(self, model):
        super().set_model(model)
        self._close()
        self._writers, self._recording = {}, []
        from course_lib.models import Model

        # As Keras: the JSON of a Sequential or functional model (Keras's Functional), not of a subclass.
        if self.write_graph and (type(model) is Model or type(model).__name__ == "Sequential"):
            try:
                text = model.to_json()
            except Exception as error:  # as Keras: a model that cannot be described still trains
                warnings.warn(f"Model failed to serialize as JSON. Ignoring... {error}", stacklevel=2)
            else:
                self._writer("train").text("keras", text, 0, "graph_keras_model", b"1")
        if self.embeddings_freq:
            self._write_projector_config()

    def on_train_begin(self, logs=None):
        self._global_train_batch = 0
        self._push(0)

    def on_train_end(self, logs=None):
        self._pop()
        self._close()

    def on_epoch_begin(self, epoch, logs=None):
        if self.write_steps_per_second:
            self._epoch_start = (time.time(), self.model.optimizer.iterations)

    def on_train_batch_begin(self, batch, logs=None):
        self._global_train_batch += 1
        self._pop()
        self._push(self._global_train_batch)
        if self.write_steps_per_second:
            self._batch_start = time.time()

    def on_train_batch_end(self, batch, logs=None):
        if self.update_freq == "epoch":
            return  # as Keras: no writer is the default, so the batch summaries go nowhere
        if self.write_steps_per_second:
            elapsed = time.time() - self._batch_start
            self._scalar("train", "batch_steps_per_second", 1.0 / elapsed if elapsed > 0 else math.inf,
                         self._global_train_batch)
        for name, value in (logs or {}).items():
            self._scalar("train", f"batch_{name}", value, self._global_train_batch)

    def on_test_begin(self, logs=None):
        self._writer("validation")
        self._push(self._global_test_batch)

    def on_test_batch_begin(self, batch, logs=None):
        self._global_test_batch += 1
        self._pop()
        self._push(self._global_test_batch)

    def on_test_end(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None and hasattr(optimizer, "iterations"):
            for name, value in (logs or {}).items():
                self._scalar("validation", f"evaluation_{name}_vs_iterations", value, int(optimizer.iterations))
        self._pop()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if logs:
            train = {key: value for key, value in logs.items() if not key.startswith("val_")}
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None:
                train["learning_rate"] = float(optimizer.learning_rate)
            if self.write_steps_per_second:
                started, iterations = self._epoch_start
                train["steps_per_second"] = (self.model.optimizer.iterations - iterations) / (time.time() - started)
            for name, value in train.items():
                self._scalar("train", f"epoch_{name}", value, epoch)
            for name, value in logs.items():
                if name.startswith("val_"):
                    self._scalar("validation", f"epoch_{name[4:]}", value, epoch)
        if self.histogram_freq and epoch % self.histogram_freq == 0 and self._records():
            self._log_weights(epoch)
        if self.embeddings_freq and epoch % self.embeddings_freq == 0:
            self.model.save_weights(os.path.join(self.log_dir, "train", f"keras_embedding.ckpt-{epoch}.weights.h5"))
        for writer in self._writers.values():
            writer.flush()

    # ------------------------------------------------------------- weights
    def _log_weights(self, epoch):
        from course_lib.utils.event_files import weight_image

        writer = self._writer("train")
        for layer in self.model.layers:
            for weight in layer.weights:
                name = weight.path.replace(":", "_")
                values = backend.to_numpy(weight.numpy() if hasattr(weight, "numpy") else weight)
                writer.histogram(f"{name}/histogram", values, epoch)
                if self.write_images:
                    image = weight_image(values)
                    if image is not None:
                        writer.images(f"{name}/image", image, epoch)

    def _write_projector_config(self):
        from course_lib.layers.embedding import Embedding

        metadata = self.embeddings_metadata
        metadata = dict(metadata) if isinstance(metadata, dict) else metadata
        entries = []
        for layer in self.model.layers:
            if isinstance(layer, Embedding):
                entry = '  tensor_name: "layer_with_weights-0/embeddings/.ATTRIBUTES/VARIABLE_VALUE"\n'
                path = metadata if isinstance(metadata, str) else (metadata or {}).pop(layer.name, None)
                if path is not None:
                    entry += f"  metadata_path: {json.dumps(os.fspath(path))}\n"
                entries.append("embeddings {\n" + entry + "}\n")
        if isinstance(metadata, dict) and metadata:
            raise ValueError("Unrecognized `Embedding` layer names passed to `keras.callbacks.TensorBoard` "
                             f"`embeddings_metadata` argument: {metadata.keys()}")
        os.makedirs(self.log_dir, exist_ok=True)
        with open(os.path.join(self.log_dir, "projector_config.pbtxt"), "w") as handle:
            handle.write("".join(entries))


class LambdaCallback(Callback):
    """A callback made of plain functions, e.g. ``LambdaCallback(on_epoch_end=lambda e, logs: ...)``."""

    def __init__(self, **hooks):
        super().__init__()
        for hook, function in hooks.items():
            if not hook.startswith("on_") or not hasattr(Callback, hook):
                raise ValueError(f"LambdaCallback: unknown hook {hook!r}.")
            setattr(self, hook, function)


class BackupAndRestore(Callback):
    """Back up the training state every epoch, and resume an interrupted ``fit`` from it (断点续训).

    At each epoch's end (or every ``save_freq`` batches) the model's weights,
    with the optimizer's state, go to ``<backup_dir>/latest.weights.h5`` and
    the number of finished epochs to ``<backup_dir>/training_metadata.json``:
    Keras's two files, so a backup written by either library resumes in the
    other. At the start of a later ``fit`` with the same callback directory,
    the weights and optimizer state are loaded back and training goes on at
    the first unfinished epoch (``fit`` reads ``model._initial_epoch``, as
    Keras's does). A ``fit`` that ends normally deletes the backup
    (``delete_checkpoint=True``).

    As in Keras, a backup taken mid-epoch (``save_freq`` an int) resumes at
    the start of that epoch, from the weights of that batch; and the epoch
    to resume from stays on the model (a later ``fit`` of the same model
    starts there too, since Keras never resets it).

    Args:
        backup_dir: str or path, a directory for this callback only.
        save_freq: ``"epoch"``, or an int: back up every that many batches.
        double_checkpoint: keep the previous backup too (``*.bkp``), and
            fall back to it when the latest one cannot be read.
        delete_checkpoint: delete ``backup_dir`` when training ends.
    """

    def __init__(self, backup_dir, save_freq="epoch", double_checkpoint=False, delete_checkpoint=True):
        super().__init__()
        self.save_freq = save_freq
        self.double_checkpoint = double_checkpoint
        self.delete_checkpoint = delete_checkpoint
        self._batches_seen_since_last_saving = 0
        self._last_batch_seen = 0
        self._current_epoch = 0
        if not backup_dir:
            raise ValueError(f"BackupAndRestore: empty `backup_dir` argument passed. Received: backup_dir={backup_dir!r}")
        self.backup_dir = os.fspath(backup_dir)
        self._weights_path = os.path.join(self.backup_dir, "latest.weights.h5")
        self._training_metadata_path = os.path.join(self.backup_dir, "training_metadata.json")
        self._prev_weights_path = f"{self._weights_path}.bkp"
        self._prev_training_metadata_path = f"{self._training_metadata_path}.bkp"
        if save_freq != "epoch" and (isinstance(save_freq, bool) or not isinstance(save_freq, int)):
            raise ValueError(
                "BackupAndRestore: invalid value for argument `save_freq`. "
                f"Received: save_freq={save_freq!r}. Expected either 'epoch' or an integer value."
            )

    def on_train_begin(self, logs=None):
        try:
            self._load_model()
        except OSError:
            # The latest backup may be corrupted: fall back to the previous one (double_checkpoint).
            if not os.path.exists(self._prev_weights_path):
                raise
            shutil.copy(self._prev_weights_path, self._weights_path)
            if os.path.exists(self._prev_training_metadata_path):
                shutil.copy(self._prev_training_metadata_path, self._training_metadata_path)
            elif os.path.exists(self._training_metadata_path):
                os.remove(self._training_metadata_path)
            self._load_model()

    def _load_model(self):
        from course_lib import saving

        if not getattr(self.model, "built", False):
            raise ValueError(
                "BackupAndRestore: to use the BackupAndRestore callback, your model must be built "
                f"before you call `fit()`. Model {self.model} is unbuilt. You can build it "
                "beforehand by calling it on a batch of data."
            )
        if os.path.exists(self._weights_path):
            optimizer = getattr(self.model, "optimizer", None)
            if optimizer is not None and not optimizer.built:
                optimizer.build(self.model.trainable_weights)
            self.model.load_weights(self._weights_path)
            if optimizer is not None:
                # Keras's load_weights restores the optimizer's variables from the same file.
                saving._read_optimizer(self.model, self._weights_path)
        if os.path.exists(self._training_metadata_path):
            with open(self._training_metadata_path) as handle:
                training_metadata = json.loads(handle.read())
            self.model._initial_epoch = training_metadata["epoch"]

    def on_epoch_end(self, epoch, logs=None):
        self._current_epoch = epoch + 1
        self._last_batch_seen = 0
        if self.save_freq == "epoch":
            self._save_model()

    def on_train_batch_end(self, batch, logs=None):
        if self._should_save_on_batch(batch):
            self._save_model()

    def _save_model(self):
        os.makedirs(self.backup_dir, exist_ok=True)
        if self.double_checkpoint and os.path.exists(self._weights_path):
            shutil.copy(self._weights_path, self._prev_weights_path)
        if self.double_checkpoint and os.path.exists(self._training_metadata_path):
            shutil.copy(self._training_metadata_path, self._prev_training_metadata_path)
        self.model.save_weights(self._weights_path, overwrite=True)
        with open(self._training_metadata_path, "w") as handle:
            handle.write(json.dumps({"epoch": self._current_epoch, "batch": self._last_batch_seen}))

    def _should_save_on_batch(self, batch):
        if self.save_freq == "epoch":
            return False
        if batch <= self._last_batch_seen:  # a new epoch
            add_batches = batch + 1
        else:
            add_batches = batch - self._last_batch_seen
        self._batches_seen_since_last_saving += add_batches
        self._last_batch_seen = batch
        if self._batches_seen_since_last_saving >= self.save_freq:
            self._batches_seen_since_last_saving = 0
            return True
        return False

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and os.path.exists(self.backup_dir):
            shutil.rmtree(self.backup_dir)


class SwapEMAWeights(Callback):
    """Evaluate (and optionally checkpoint) with the optimizer's moving averages of the weights.

    Needs an optimizer created with ``use_ema=True``. Before each
    evaluation (``validation_data`` in ``fit``, ``evaluate``, ``predict``
    with this callback) the model's weights and the optimizer's averages are
    swapped in place, and swapped back after it. ``swap_on_epoch=True``
    also swaps at each epoch's end (so the callbacks after this one, e.g.
    :class:`ModelCheckpoint`, see the averages) and back at the next epoch's
    begin.

    The swap is Keras's TensorFlow one, by additions (``w += a; a = w - a;
    w -= a``), so it rounds as tf.keras does. Keras's ``on_predict_end``
    tests the wrong flag and does not swap back after ``predict``: the
    averages stay in the model (and the weights in the optimizer) until the
    next ``evaluate`` with this callback ends; course_lib does the same, so
    that both libraries hold the same numbers.

    Args:
        swap_on_epoch: also swap at epoch ends and begins (default False).
    """

    def __init__(self, swap_on_epoch=False):
        super().__init__()
        self.swap_on_epoch = swap_on_epoch
        self._ema_weights_in_model = False

    def _optimizer(self):
        optimizer = self.model.optimizer
        if not hasattr(optimizer, "_model_variables_moving_average"):
            raise ValueError(
                "SwapEMAWeights must be used when `use_ema=True` is set on the optimizer. "
                f"Received: use_ema={getattr(optimizer, 'use_ema', None)}"
                + ("" if not getattr(optimizer, "use_ema", False)
                   else " (the optimizer has not taken a step yet, so it has no averages)")
            )
        return optimizer

    def _swap_variables(self):
        optimizer = self._optimizer()
        for variable, average in zip(optimizer._trainable_variables,
                                     optimizer._model_variables_moving_average):
            variable += average
            average[...] = variable - average
            variable -= average

    def _finalize_ema_values(self):
        optimizer = self._optimizer()
        for variable, average in zip(optimizer._trainable_variables,
                                     optimizer._model_variables_moving_average):
            average[...] = variable

    def on_epoch_begin(self, epoch, logs=None):
        if self.swap_on_epoch and self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_epoch_end(self, epoch, logs=None):
        if self.swap_on_epoch and not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True
            # fit ends with finalize_variable_values (the averages into the model), so after the
            # last epoch the averages (now in the model) are copied back into the optimizer.
            if epoch == self.params["epochs"] - 1:
                self._finalize_ema_values()

    def on_test_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_test_end(self, logs=None):
        if self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False

    def on_predict_begin(self, logs=None):
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = True

    def on_predict_end(self, logs=None):
        # Keras's test, kept as it is (see the class docstring): never true after on_predict_begin.
        if not self._ema_weights_in_model:
            self._swap_variables()
            self._ema_weights_in_model = False
