"""The one training engine behind compile, fit, evaluate, predict and the *_on_batch methods.

A training step is: forward (``training=True``), loss and its gradient with
respect to each output, backward through the model, one optimizer update.
As in Keras, the loss is the data loss plus every ``add_loss`` value, the
activity penalties of the layer calls (``regularizer(output) / batch_size``)
and the penalties of the trainable weights that have a regularizer (at the
weights before the update); each penalty's gradient is added to its weight's
(or its output's) gradient, and the optimizer applies the weights'
constraints after the update.
As Keras's TensorFlow backend does, a crossentropy loss on a softmax or
sigmoid output is computed from the output layer's logits (more stable, and
the same numbers Keras reports).
"""
from __future__ import annotations

import math
import warnings

from course_lib import backend, callbacks as callbacks_module, config, losses, metrics as metrics_module
from course_lib import optimizers, regularizers, tape as tape_module, variables as variables_module
from course_lib.utils.progbar import Progbar
from course_lib.utils.py_dataset import PyDataset, load_batches

_COMPILE_OPTIONS = {"run_eagerly", "jit_compile", "steps_per_execution", "auto_scale_loss"}


class Trainer:
    """Mixed into :class:`~course_lib.models.Model`: everything about training."""

    def __init__(self):
        self.compiled = False
        self.optimizer = None
        self.stop_training = False
        self.history = None
        self._loss_spec = None
        self._losses_resolved = False  # set by the first step after compile (see _resolve_losses)
        self._warned_non_finite = False
        self._warned_frozen = False
        self._trackers = None  # the loss trackers of the running epoch or evaluation
        self._regularized_cache = (None, [])  # (cache key, every regularized weight): see _weight_regularizers

    # ---------------------------------------------------------------- compile
    @property
    def loss(self):
        """What ``compile`` was given as ``loss`` (None before compile), as Keras's ``model.loss``."""
        spec = getattr(self, "_loss_spec", None)
        return None if spec is None else spec[0]

    @loss.setter
    def loss(self, value):
        # As in Keras, the attribute only: the compiled losses stay until the next compile.
        spec = getattr(self, "_loss_spec", None) or (None, None, None)
        self._loss_spec = (value,) + tuple(spec[1:])

    def compile(self, optimizer="rmsprop", loss=None, metrics=None, loss_weights=None, **kwargs):
        """Choose the optimizer, the loss(es) and the metrics.

        Args:
            optimizer: a name ('sgd', 'adam', ...) or an optimizer object.
            loss: a name, a Loss object, or one per output (list or dict by output name).
            metrics: a list of names/objects; for several outputs a list of lists or a dict.
            loss_weights: a float per output (list or dict) multiplying its loss in the total.
        """
        unknown = set(kwargs) - _COMPILE_OPTIONS
        if unknown:
            raise TypeError(f"compile: unrecognized keyword arguments: {sorted(unknown)}.")
        self.optimizer = optimizers.get(optimizer)
        self._loss_spec = (loss, metrics, loss_weights)
        if getattr(self, "_traced", False) and not self.built:
            # A subclassed model's outputs are known once its call is traced: finish compiling then.
            self._losses = None if loss is None else []
            self._loss_weights, self._metric_ids, self._metric_objects = [], [], None
            self.compiled, self.stop_training = True, False
            return
        names = self._output_count_names()
        # 'crossentropy' / 'ce' pick binary, categorical or sparse from the first batch, as Keras's compile does.
        self._losses = None if loss is None else [
            item if _is_deferred(item) else losses.get(item) for item in _per_output(loss, names, "loss")
        ]
        self._loss_weights = (
            [1.0] * len(names) if loss_weights is None
            else [float(w) for w in _per_output(loss_weights, names, "loss_weights")]
        )
        self._logit_losses = [None] * len(names)
        self._resolve_losses()
        self._metric_ids = _metrics_per_output(metrics, names)
        self._metric_objects = None
        self.compiled = True
        self.stop_training = False
        self._warned_frozen = False

    def _resolve_losses(self, ys=None, outputs=None):
        """Note which losses score from logits; with the first batch (``ys``), resolve the deferred
        loss names into Loss objects and give Keras's from_logits warning. Once per compile."""
        for index, loss_object in enumerate(self._losses or []):
            if _is_deferred(loss_object):
                if ys is None:
                    continue
                loss_object = self._losses[index] = losses.get(loss_object, ys[index], outputs[index])
            activation = _logits_activation(loss_object)
            if activation is not None:
                self._logit_losses[index] = (activation, loss_object.with_logits())
            if ys is not None:
                self._warn_if_probabilities_as_logits(index, loss_object)
        self._losses_resolved = ys is not None

    def _warn_if_probabilities_as_logits(self, index, loss_object):
        """Keras's warning: from_logits=True on an output that ends in the matching softmax/sigmoid."""
        if not isinstance(loss_object, losses.Loss) or not getattr(loss_object, "from_logits", False):
            return
        if type(loss_object) not in _PLAIN_CROSSENTROPIES:
            return  # Keras's focal losses apply the activation themselves and never warn
        expected = _probability_activation(loss_object)
        function = backend.snake_case(type(loss_object).__name__)  # the loss function's name, as Keras says it
        if _output_logits_activation(self.outputs[index].node.layer) == expected:
            warnings.warn(
                f'"`{function}` received `from_logits=True`, but the `output` argument was produced by '
                f"a {expected.capitalize()} activation and thus does not represent logits. Was this intended?",
                stacklevel=4,
            )

    def _compile_config(self):
        """Keras 3's compile config, as ``model.get_compile_config()`` gives it."""
        if not self.compiled:
            return None
        loss, metrics, loss_weights = self._loss_spec
        return {
            "optimizer": {"module": "keras.optimizers", "class_name": type(self.optimizer).__name__,
                          "config": self.optimizer.get_config(), "registered_name": None},
            "loss": _serialize_spec(loss, losses),
            "loss_weights": loss_weights,
            "metrics": _serialize_spec(metrics, metrics_module),
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False, "auto_scale_loss": True,
        }

    def _compile_from_config(self, config):
        from course_lib import saving  # saving reads models, which are Trainers

        def rebuild(spec, module):
            if isinstance(spec, str):
                # A custom function saved by name: found now, while load_model's custom objects are in
                # effect (they would be gone by the first evaluate, which resolves the other names).
                custom = saving.find_object(spec)
                return spec if custom is None else custom
            if isinstance(spec, dict) and "class_name" in spec:
                return module.deserialize(spec)
            if isinstance(spec, dict):
                return {key: rebuild(value, module) for key, value in spec.items()}
            if isinstance(spec, list):
                return [rebuild(value, module) for value in spec]
            return spec

        optimizer = config["optimizer"]
        self.compile(
            optimizers.get(optimizer) if not isinstance(optimizer, str) else optimizer,
            rebuild(config.get("loss"), losses), rebuild(config.get("metrics"), metrics_module),
            config.get("loss_weights"),
        )

    def _require_compiled(self, what, step=None):
        """Compiled, and with a loss unless ``step`` ('train_step' / 'test_step') is the model's own."""
        if not self.compiled:
            raise ValueError(f"You must call `compile()` before using the model ({what} was called).")
        if self._losses is None and not (step and self._overrides(step)):
            raise ValueError(f"{what}: the model was compiled without a loss; pass `loss=` to compile().")

    @property
    def metrics_names(self):
        """What Keras 3 reports: its metric *trackers*, not the values evaluate returns.

        ``['loss']``, then ``'compile_metrics'`` when compile had metrics, then
        (for several outputs, once data has been seen) one ``'<output>_loss'``
        per output. The names of the values are the keys of
        ``evaluate(..., return_dict=True)``.
        """
        names = ["loss"]
        if any(self._metric_ids):
            names.append("compile_metrics")
        if len(self._output_count_names()) > 1 and self._metric_objects is not None:
            names += self._output_loss_names()
        return names

    def _output_loss_names(self):
        """The log keys of each output's loss: ``'<output>_loss'``; for a subclassed model, whose
        outputs have no names in Keras, ``'<loss function>_loss'``."""
        if getattr(self, "_traced", False):
            return [f"{getattr(loss, 'name', loss)}_loss" for loss in self._losses]
        return [f"{name}_loss" for name in self._output_count_names()]

    def _result_order(self, logs):
        """Keras's order of evaluate's list: the loss, each output's loss, the metrics as compiled
        where their names are the log keys (one output), then the other keys sorted."""
        outputs = self._output_count_names()
        wanted = ["loss"] + (self._output_loss_names() if len(outputs) > 1 else [])
        wanted += [metric.name for _, _, metric in self._metric_objects or []]
        ordered = []
        for key in wanted:
            if key in logs and key not in ordered:
                ordered.append(key)
        return ordered + [key for key in sorted(logs) if key not in ordered]

    def _output_count_names(self):
        return self.output_names or ["output"]

    # ------------------------------------------------------------ one step
    def _logits_node(self, index):
        """The node whose pre-activation scores output ``index`` from logits, or None.

        As Keras's TensorFlow backend does, a crossentropy (not from logits) on
        an output that ends in the matching softmax/sigmoid is computed from the
        output layer's logits: more stable, and the numbers Keras reports.
        """
        if self._logit_losses[index] is None:
            return None
        activation, _ = self._logit_losses[index]
        tensor = self.outputs[index]
        layer = tensor.node.layer
        if (
            _output_logits_activation(layer) == activation
            and not tensor.node.outputs_are_list
            and not self._consumers.get(id(tensor))
        ):
            return self._node_position[id(tensor.node)]
        return None

    def _loss_step(self, ys, outputs, caches, sample_weights=None, with_gradients=True):
        """The engine's loss step.

        Returns:
            ``(total, per_output, output_grads, logits_grads)``: the weighted
            total, each output's loss (before loss_weights), the gradient per
            output (None where it is taken with respect to the logits instead)
            and ``{node position: gradient with respect to the logits}``.
        """
        total, per_output, output_grads, logits_grads = 0.0, [], [], {}
        sample_weights = sample_weights or [None] * len(outputs)
        masks = getattr(caches, "output_masks", None) or [None] * len(outputs)
        for index, (y_true, y_pred, weights) in enumerate(zip(ys, outputs, sample_weights)):
            loss_object, weight = self._losses[index], self._loss_weights[index]
            target, position = y_pred, self._logits_node(index)
            logits = None if position is None else self._nodes[position].layer.pre_activation(caches[position])
            if logits is None:
                position = None  # this call's output carries no logits (a masked Softmax layer)
            else:
                loss_object, target = self._logit_losses[index][1], logits
            # Keras: the output's mask and the loss's own (ignore_class) are combined, then folded
            # into the sample weights; a loss that cannot take the mask gets it folded in here.
            masked = {}
            if masks[index] is not None:
                if _takes_mask(loss_object):
                    masked["mask"] = masks[index]
                else:
                    weights = losses.apply_mask(weights, masks[index], y_pred.dtype, loss_object.reduction)
            grad = None
            if with_gradients:
                value, grad = loss_object.value_and_gradient(y_true, target, sample_weight=weights, **masked)
                grad = grad * grad.dtype.type(weight) if weight != 1.0 else grad
            else:
                value = loss_object(y_true, target, sample_weight=weights, **masked)
            value = backend.to_float(value)
            per_output.append(value)
            total += weight * value
            if position is not None:
                logits_grads[position], grad = grad, None
            output_grads.append(grad)
        return total, per_output, output_grads, logits_grads

    def _added_loss(self):
        """The sum of what the layers passed to add_loss in the forward pass just run (Keras adds it too)."""
        return sum(backend.to_float(value) for value in self._eager_losses)

    def _weight_regularizers(self):
        """``[(weight name, Variable, regularizer)]`` for the trainable weights with a regularizer.

        The full list (frozen weights included) is cached, and rebuilt only
        when the graph changes or a Variable's regularizer is set; without any
        regularizer a step costs one comparison here.
        """
        key = (variables_module.generation(), getattr(self, "_graph_version", 0))
        cached_key, every = self._regularized_cache
        if cached_key != key:
            every = self._regularized_weights(trainable_only=False)
            self._regularized_cache = (key, every)
        if not every:
            return every
        trainable = set(self.trainable_weight_names)
        return [entry for entry in every if entry[0] in trainable]

    def _weight_penalty(self, regularized):
        """The sum of the weight penalties, as a float (Keras adds them to the reported loss)."""
        return sum(backend.to_float(regularizer(variable.value)) for _, variable, regularizer in regularized)

    def _add_regularizer_gradients(self, weight_grads, regularized, scale=None):
        for name, variable, regularizer in regularized:
            grad = regularizers.gradient(regularizer, variable.value,
                                         f"Model '{self.name}', weight '{variable.path}' regularizer")
            grad = grad if scale is None else grad * grad.dtype.type(scale)
            weight_grads[name] = weight_grads[name] + grad if weight_grads.get(name) is not None else grad

    def _loss_cache_positions(self):
        return {p for p in (self._logits_node(i) for i in range(len(self.outputs))) if p is not None}

    def _ensure_metrics(self, ys, outputs):
        if self._metric_objects is not None:
            return
        names = self._output_count_names()
        prefix = len(names) > 1 and not getattr(self, "_traced", False)  # Keras: no output names there
        self._metric_objects = []
        seen = {}  # Keras's logs: a name met again becomes name_1, name_2 ... (["auc", AUC()] -> auc, auc_1)
        for index, identifiers in enumerate(self._metric_ids):
            loss = self._losses[index] if self._losses else None
            for identifier in identifiers:
                metric = metrics_module.get(identifier, loss=loss, y_true=ys[index], y_pred=outputs[index])
                name = f"{names[index]}_{metric.name}" if prefix else metric.name
                seen[name] = seen.get(name, 0) + 1
                if seen[name] > 1:
                    name = f"{name}_{seen[name] - 1}"
                self._metric_objects.append((name, index, metric))

    def _new_trackers(self):
        count = len(self._output_count_names())
        return {"loss": metrics_module.Mean(name="loss"),
                "outputs": [metrics_module.Mean(name="loss") for _ in range(count)]}

    def _update_trackers(self, trackers, batch_size, total, per_output, ys, outputs, output_masks=None):
        trackers["loss"].update_state(total, sample_weight=batch_size)
        for tracker, value in zip(trackers["outputs"], per_output):
            tracker.update_state(value, sample_weight=batch_size)
        self._ensure_metrics(ys, outputs)
        # As in Keras, `metrics` ignore sample weights (Keras has `weighted_metrics` for that), but
        # not an output's mask: masked time steps do not count.
        for _, index, metric in self._metric_objects:
            mask = output_masks[index] if output_masks else None
            if mask is None:
                metric.update_state(ys[index], outputs[index])
            else:
                metric.update_state(ys[index], outputs[index], sample_weight=mask.astype(outputs[index].dtype))

    def _logs(self, trackers, prefix=""):
        logs = {"loss": trackers["loss"].result()}
        if len(self._output_count_names()) > 1:
            for name, tracker in zip(self._output_loss_names(), trackers["outputs"]):
                logs[name] = tracker.result()
        for name, _, metric in self._metric_objects or []:
            logs[name] = metric.result()
        return {prefix + key: _log_value(logs[key]) for key in sorted(logs)}

    def _reset_metrics(self):
        for metric in self.metrics:
            metric.reset_state()

    # ------------------------------------------------------- custom steps
    @property
    def metrics(self):
        """The metric objects fit and evaluate reset at the start of each epoch / evaluation.

        As Keras: the metrics given to ``compile``, then those set as the
        model's attributes (a custom ``train_step``'s trackers). A model may
        also override this property to list its trackers, as keras.io's GAN does.
        """
        compiled = [metric for _, _, metric in self._metric_objects or []]
        return compiled + [m for m in self.__dict__.get("_tracked_metrics", ()) if m not in compiled]

    def _overrides(self, method):
        """Whether the model's class defines its own ``train_step`` / ``test_step``."""
        return getattr(type(self), method) is not getattr(Trainer, method)

    def train_step(self, data):
        """One training step on one batch; returns the logs (``{name: value}``).

        ``data`` is the batch as ``fit`` yields it: the inputs alone, ``(x, y)``
        or ``(x, y, sample_weight)``. Override it, as Keras 3 allows, for a
        step ``fit`` cannot express (a GAN's two optimizers): compute the
        gradients with :class:`course_lib.GradientTape`, apply them with
        ``optimizer.apply_gradients``, update your trackers and return their
        results. ``fit``, ``train_on_batch`` and callbacks then run your step.
        This default is the engine's own step (what ``fit`` runs when the
        method is not overridden), so ``super().train_step(data)`` works.
        """
        xs, ys, weights = self._step_arrays(data, "train_step")
        trackers = self._running_trackers()
        self._train_step(xs, ys, weights, trackers)
        return self._logs(trackers)

    def test_step(self, data):
        """One evaluation step on one batch (no update); returns the logs. Override it like :meth:`train_step`."""
        xs, ys, weights = self._step_arrays(data, "test_step")
        trackers = self._running_trackers()
        self._test_step(xs, ys, weights, trackers)
        return self._logs(trackers)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The compiled loss of ``y_pred`` against ``y`` (weighted per output), plus the weights' penalties.

        Inside a :class:`course_lib.GradientTape` the result can be
        differentiated. Unlike Keras's TensorFlow backend, a crossentropy on a
        softmax or sigmoid output is computed here from the probabilities
        (``fit`` itself uses the logits): the two agree except where a
        probability is clipped at 1e-7.
        """
        self._require_compiled("compute_loss")
        several = isinstance(y_pred, (list, tuple))
        outputs = list(y_pred) if several else [y_pred]
        targets = list(y) if several else [y]
        weights = list(sample_weight) if isinstance(sample_weight, (list, tuple)) else [sample_weight] * len(outputs)
        if not self._losses_resolved:
            self._resolve_losses(targets, outputs)
        total = 0.0
        for loss_object, weight, target, output, sample in zip(
                self._losses, self._loss_weights, targets, outputs, weights):
            value = loss_object(target, output, sample_weight=sample)
            total = total + (value if weight == 1.0 else weight * value)
        regularized = self._weight_regularizers() if training else []
        if regularized:
            total = total + tape_module.record_penalty(regularized, self._weight_penalty(regularized),
                                                       f"Model '{self.name}'")
        return total

    def _running_trackers(self):
        trackers = getattr(self, "_trackers", None)
        if trackers is None:
            trackers = self._trackers = self._new_trackers()
        return trackers

    def _step_arrays(self, data, where):
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        xs = self._standardize_inputs(x, where)
        if y is None:
            raise ValueError(f"{where}: the batch has no targets; the default step needs (x, y).")
        ys = _targets(self, y, where)
        return xs, ys, _sample_weights(self, ys, sample_weight, None, where)

    def _train_step(self, xs, ys, sample_weights, trackers):
        if not self._losses_resolved:
            self._resolve_losses(ys, self.outputs)  # only shapes are read: the symbolic outputs do
        plan = self._backward_plan(inputs_need_grads=False)
        outputs, caches = self._run(xs, True, plan.nodes | self._loss_cache_positions())
        total, per_output, output_grads, logits_grads = self._loss_step(ys, outputs, caches, sample_weights)
        total += self._added_loss()
        regularized = self._weight_regularizers()
        if regularized:  # at the weights before this step's update, as Keras
            total += self._weight_penalty(regularized)
        if not math.isfinite(total) and not self._warned_non_finite:
            # Keras trains on (and records) a NaN or infinite loss; TerminateOnNaN stops it.
            self._warned_non_finite = True
            warnings.warn(
                f"Model '{self.name}': the loss became {total} during training. Lower the learning "
                "rate or check the inputs and labels for NaN/inf; callbacks.TerminateOnNaN() stops "
                "training when this happens.", RuntimeWarning, stacklevel=4,
            )
        if self.trainable_weights:
            scale = getattr(self.optimizer, "loss_scale", None)  # LossScaleOptimizer: scale the loss's gradient
            scale = scale() if scale is not None else None
            if scale is not None:
                output_grads = [None if g is None else g * g.dtype.type(scale) for g in output_grads]
                logits_grads = {p: g * g.dtype.type(scale) for p, g in logits_grads.items()}
            _, weight_grads = self._backprop(output_grads, caches, plan, logits_grads, loss_scale=scale)
            if regularized:
                self._add_regularizer_gradients(weight_grads, regularized, scale)
            self.optimizer.apply(self._gradient_list(weight_grads), self.trainable_weights)
        elif not self._warned_frozen:
            # Keras's words; it reads `trainable` when it first traces the step (course_lib: at every step).
            self._warned_frozen = True
            warnings.warn("The model does not have any trainable weights.", stacklevel=4)
        self._update_trackers(trackers, _batch_size(xs), total, per_output, ys, outputs, caches.output_masks)

    def _test_step(self, xs, ys, sample_weights, trackers):
        if not self._losses_resolved:
            self._resolve_losses(ys, self.outputs)
        outputs, caches = self._run(xs, False, self._loss_cache_positions())
        total, per_output, _, _ = self._loss_step(ys, outputs, caches, sample_weights, with_gradients=False)
        total += self._added_loss()
        regularized = self._weight_regularizers()
        if regularized:
            total += self._weight_penalty(regularized)
        self._update_trackers(trackers, _batch_size(xs), total, per_output, ys, outputs, caches.output_masks)

    # ------------------------------------------------------------------ fit
    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, initial_epoch=0,
            steps_per_epoch=None, validation_steps=None, validation_batch_size=None,
            validation_freq=1, class_weight=None, sample_weight=None):
        """Train for ``epochs`` epochs; returns a :class:`~course_lib.callbacks.History`.

        Args:
            x, y: arrays (or lists/dicts of arrays for several inputs/outputs), or
                ``x`` a :class:`~course_lib.utils.PyDataset`, generator or Sequence
                yielding ``(x_batch, y_batch)``.
            batch_size: samples per step (32 by default; not for generators or a PyDataset).
            validation_split: fraction of the data (the LAST samples, taken before
                shuffling) held out for validation; arrays only.
            validation_data: ``(x_val, y_val)``, a PyDataset or a generator.
            shuffle: reshuffle the training samples every epoch (for a PyDataset:
                the order of its batches, at every new pass over it; never for the
                datasets course_lib's loaders return, as Keras never reorders the
                ``tf.data.Dataset`` its loaders return).
            steps_per_epoch: batches per epoch (needed for endless generators and
                datasets). Smaller than the number of batches (of arrays or of a
                PyDataset), the next epoch goes on where the last one stopped, as in
                Keras; larger, an epoch ends when the data do, with Keras's warning.
            sample_weight: a weight per sample (or a list/dict of them, one per output).
            class_weight: ``{class_index: weight}`` for a single-output model.
        """
        self._require_compiled("fit", "train_step")
        _check_positive_int("fit", "epochs", epochs)
        if config.max_epochs() and config.max_epochs() < epochs:
            warnings.warn(f"Limiting epochs to {config.max_epochs()}", stacklevel=2)
            epochs = config.max_epochs()
        verbose = 1 if verbose == "auto" else verbose
        if validation_split and validation_data is not None:
            validation_split = 0.0
        if not 0 <= validation_split < 1:
            raise ValueError(f"fit: validation_split must be in [0, 1). Received: {validation_split}")
        custom = self._overrides("train_step")
        if custom:  # the user's train_step gets the batches as they are, as in Keras
            if class_weight is not None:
                raise ValueError("fit: class_weight is not supported with a custom train_step "
                                 "(it receives the batches as they are; weight them there).")
            train = _StepData(x, y, sample_weight, batch_size, "fit", steps_per_epoch, shuffle)
        else:
            train = _data(self, x, y, batch_size, "fit", steps=steps_per_epoch, shuffle=shuffle,
                          sample_weight=sample_weight, class_weight=class_weight)
        if validation_split:
            train, validation = train.split(validation_split, validation_steps)
        elif validation_data is not None:
            validation = (_StepData.from_validation(validation_data, validation_batch_size or batch_size,
                                                    validation_steps) if self._overrides("test_step")
                          else _Data.from_validation(self, validation_data, validation_batch_size or batch_size,
                                                     validation_steps))
        else:
            validation = None
        history = callbacks_module.History()
        callback_list = list(callbacks or [])
        if verbose:
            callback_list.append(callbacks_module.ProgbarLogger(verbose))
        callback_list.append(history)
        params = {"epochs": epochs, "steps": train.steps, "verbose": verbose}
        hooks = callbacks_module.CallbackList(callback_list, self, params)
        self.stop_training = False
        train.reset()
        hooks.on_train_begin()
        logs = {}
        # As Keras: a callback (BackupAndRestore) may move the first epoch in on_train_begin.
        initial_epoch = getattr(self, "_initial_epoch", None) or initial_epoch
        for epoch in range(initial_epoch, epochs):
            self._reset_metrics()
            trackers = self._trackers = self._new_trackers()
            hooks.on_epoch_begin(epoch)
            step = -1
            for step, batch in enumerate(train.batches(epoch)):
                hooks.on_train_batch_begin(step)
                if custom:
                    logs = _float_logs(self.train_step(batch), "train_step")
                else:
                    self._train_step(*batch, trackers)
                    logs = self._logs(trackers)
                hooks.on_train_batch_end(step, logs)
                if self.stop_training:
                    break
            if step < 0:
                raise ValueError("fit: the training data produced no batches in this epoch.")
            if validation is not None and (epoch + 1) % validation_freq == 0:
                # As Keras's fit runs evaluate with the same callbacks: test hooks, unprefixed logs.
                hooks.on_test_begin()
                validation_logs = self._evaluate_data(validation, hooks=hooks)
                hooks.on_test_end(validation_logs)
                logs.update({"val_" + key: value for key, value in validation_logs.items()})
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        # As Keras: with use_ema=True the optimizer's moving averages become the weights.
        finalize = getattr(self.optimizer, "finalize_variable_values", None)
        if finalize is not None:
            finalize(self.trainable_weights)
        hooks.on_train_end(logs)
        self.history = history
        return history

    # ------------------------------------------------------------- evaluate
    def _evaluate_data(self, data, prefix="", hooks=None, verbose=0):
        data.reset()
        self._reset_metrics()
        trackers = self._trackers = self._new_trackers()
        custom = isinstance(data, _StepData)
        progbar = Progbar(data.steps, verbose=verbose, stateless_metrics=set()) if verbose else None
        step, logs = -1, {}
        for step, batch in enumerate(data.batches(0)):
            if hooks:
                hooks.on_test_batch_begin(step)
            if custom:
                logs = _float_logs(self.test_step(batch), "test_step")
            else:
                self._test_step(*batch, trackers)
                logs = self._logs(trackers)
            if hooks:
                hooks.on_test_batch_end(step, logs)
            if progbar:
                progbar.update(step + 1, list(logs.items()), finalize=False)
        if step < 0:
            raise ValueError("evaluate: the data produced no batches.")
        if progbar:
            progbar.target = progbar.target or step + 1
            progbar.update(step + 1, list(logs.items()), finalize=True)
        return {prefix + key: value for key, value in logs.items()}

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", steps=None, callbacks=None,
                 return_dict=False, sample_weight=None):
        """Loss (and metrics) on the given data, in test mode.

        Returns:
            The loss as a float when there are no metrics and one output,
            else ``[loss, *output_losses, *metrics]`` (or a dict with ``return_dict``).
        """
        self._require_compiled("evaluate", "test_step")
        verbose = 1 if verbose == "auto" else verbose
        data = (_StepData(x, y, sample_weight, batch_size, "evaluate", steps, False) if self._overrides("test_step")
                else _data(self, x, y, batch_size, "evaluate", steps=steps, shuffle=False, sample_weight=sample_weight))
        hooks = callbacks_module.CallbackList(callbacks, self, {"steps": data.steps, "verbose": verbose})
        hooks.on_test_begin()
        logs = self._evaluate_data(data, hooks=hooks, verbose=verbose)
        hooks.on_test_end(logs)
        if isinstance(data, _StepData):
            return logs if return_dict else _flat_results(logs)
        return self._format_results(logs, return_dict)

    def _format_results(self, logs, return_dict):
        if return_dict:
            return logs
        values = [logs[name] for name in self._result_order(logs)]
        return values[0] if len(values) == 1 else values

    # -------------------------------------------------------------- predict
    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        """Outputs for the inputs ``x``, batch by batch, in inference mode."""
        verbose = 1 if verbose == "auto" else verbose
        data = _data(self, x, None, batch_size, "predict", steps=steps, shuffle=False)
        hooks = callbacks_module.CallbackList(callbacks, self, {"steps": data.steps, "verbose": verbose})
        progbar = Progbar(data.steps, verbose=verbose, stateless_metrics=set()) if verbose else None
        hooks.on_predict_begin()
        chunks = None
        step = -1
        for step, (xs, _, _) in enumerate(data.batches(0)):
            hooks.on_predict_batch_begin(step)
            outputs, _ = self._run(xs, False)
            chunks = [[] for _ in outputs] if chunks is None else chunks
            for store, output in zip(chunks, outputs):
                store.append(output)
            hooks.on_predict_batch_end(step, {"outputs": outputs if len(outputs) > 1 else outputs[0]})
            if progbar:
                progbar.update(step + 1, finalize=False)
        if chunks is None:
            raise ValueError("predict: the data produced no batches.")
        if progbar:
            progbar.target = progbar.target or step + 1
            progbar.update(step + 1, finalize=True)
        hooks.on_predict_end()
        # As Keras: predict returns NumPy arrays, whatever the array module.
        results = [backend.to_numpy(backend.xp.concatenate(store, axis=0)) for store in chunks]
        return results if len(results) > 1 else results[0]

    # ----------------------------------------------------------- on batch
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict=False):
        """One optimizer step on one batch; returns the loss (and metrics) of that batch."""
        self._require_compiled("train_on_batch", "train_step")
        if self._overrides("train_step"):
            # As Keras: the metrics are reset first, then the user's step gets (x, y, sample_weight),
            # always three items (None where not given), unlike fit's packed batches.
            for metric in self.metrics:
                metric.reset_state()
            logs = _float_logs(self.train_step((x, y, sample_weight)), "train_step")
            return logs if return_dict else _flat_results(logs)
        data = _Data(self, x, y, None, "train_on_batch", sample_weight=sample_weight, class_weight=class_weight)
        self._reset_metrics()
        trackers = self._trackers = self._new_trackers()
        self._train_step(data.xs, data.ys, data.weights, trackers)
        return self._format_results(self._logs(trackers), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict=False):
        """Loss (and metrics) of one batch, without updating the weights."""
        self._require_compiled("test_on_batch")
        data = _Data(self, x, y, None, "test_on_batch", sample_weight=sample_weight)
        self._reset_metrics()
        trackers = self._new_trackers()
        self._test_step(data.xs, data.ys, data.weights, trackers)
        return self._format_results(self._logs(trackers), return_dict)

    def predict_on_batch(self, x):
        """Outputs for one batch ``x``."""
        xs = self._standardize_inputs(x, "predict_on_batch")
        outputs, _ = self._run(xs, False)
        return outputs if len(outputs) > 1 else outputs[0]

    def fit_generator(self, *args, **kwargs):
        raise AttributeError(
            "fit_generator was removed in Keras 3 (and course_lib follows Keras 3): pass the "
            "generator to `fit(generator, steps_per_epoch=..., epochs=...)` instead."
        )


class _Data:
    """Batches for one of fit/evaluate/predict: from arrays, a generator, or a Sequence."""

    def __init__(self, model, x, y, batch_size, where, steps=None, shuffle=False,
                 sample_weight=None, class_weight=None):
        self.model, self.where, self.shuffle = model, where, shuffle
        self.steps = self.requested_steps = steps = _capped_steps(steps)
        self.source = None
        self.weights = None
        self._position = None  # batches taken from the open pass over the arrays; None: no pass open
        if _is_generator_like(x):
            if y is not None or sample_weight is not None or class_weight is not None:
                raise ValueError(
                    f"{where}: when x is a generator or Sequence, it yields the targets (and "
                    "sample weights) itself: do not pass y, sample_weight or class_weight."
                )
            if batch_size is not None:
                raise ValueError(f"{where}: do not pass batch_size with a generator: it sets the batch size.")
            self.source = x
            if steps is None and hasattr(x, "__len__"):
                self.steps = len(x)
            return
        if x is None:
            raise ValueError(f"{where}: x is required.")
        if batch_size is not None:
            _check_positive_int(where, "batch_size", batch_size)
        self.batch_size = batch_size or 32
        self.xs = model._standardize_inputs(x, where)
        self.ys = None
        if where != "predict":
            if y is None:
                raise ValueError(f"{where}: y (the targets) is required.")
            self.ys = _targets(model, y, where)
            self.weights = _sample_weights(model, self.ys, sample_weight, class_weight, where)
        self._check_lengths()
        self.count = len(self.xs[0])
        if self.steps is None:
            self.steps = math.ceil(self.count / self.batch_size)

    def _check_lengths(self):
        x_sizes = [len(a) for a in self.xs]
        y_sizes = [len(a) for a in self.ys or []]
        w_sizes = [len(a) for a in self.weights or [] if a is not None]
        if len(set(x_sizes + y_sizes + w_sizes)) > 1:
            raise ValueError(
                f"{self.where}: x, y (and sample_weight) must have the same number of samples. "
                f"Received: x sizes {x_sizes}, y sizes {y_sizes}"
                + (f", sample_weight sizes {w_sizes}" if w_sizes else "")
            )

    @classmethod
    def from_validation(cls, model, data, batch_size, steps):
        if _is_generator_like(data):
            return _data(model, data, None, None, "fit (validation_data)", steps=steps)
        if not isinstance(data, (tuple, list)) or len(data) not in (2, 3):
            raise ValueError(
                "fit: validation_data must be a tuple (x_val, y_val) or (x_val, y_val, "
                f"sample_weight_val), a PyDataset or a generator. Received: {type(data).__name__}"
                + (f" of length {len(data)}" if isinstance(data, (tuple, list)) else "")
            )
        return cls(model, data[0], data[1], batch_size, "fit (validation_data)", steps=steps,
                   sample_weight=data[2] if len(data) == 3 else None)

    def split(self, fraction, validation_steps=None):
        """Keras's rule: the last ``fraction`` of the samples, before any shuffling.

        The first part keeps the ``steps`` asked for; the held-out part takes ``validation_steps``.
        """
        split_at = _split_point(self, fraction)
        parts = []
        validation_steps = _capped_steps(validation_steps)
        for chunk, steps in ((slice(0, split_at), self.requested_steps), (slice(split_at, None), validation_steps)):
            part = _Data.__new__(_Data)
            part.__dict__.update(self.__dict__)
            part.xs = [a[chunk] for a in self.xs]
            part.ys = [a[chunk] for a in self.ys]
            part.weights = _take(self.weights, chunk)
            part.count = len(part.xs[0])
            part.requested_steps = steps
            part.steps = steps or math.ceil(part.count / self.batch_size)
            parts.append(part)
        parts[1].shuffle = False
        return parts[0], parts[1]

    def reset(self):
        """Close the open pass over the arrays (fit calls it once, every evaluation calls it)."""
        self._position = None

    def batches(self, epoch):
        """One epoch's batches (from arrays: see :func:`_array_epoch`)."""
        if self.source is not None:
            yield from self._generator_batches()
            return
        for index in _array_epoch(self):
            yield [a[index] for a in self.xs], _take(self.ys, index), _take(self.weights, index)

    def _generator_batches(self):
        source = self.source
        if hasattr(source, "__getitem__") and hasattr(source, "__len__"):
            items = (source[i] for i in range(self.steps if self.steps is not None else len(source)))
        else:
            if not hasattr(self, "_iterator"):
                self._iterator = iter(source)
            items = self._take(self._iterator)
        for item in items:
            yield self._unpack(item)
        if hasattr(source, "on_epoch_end"):
            source.on_epoch_end()

    def _take(self, iterator):
        count = 0
        while self.steps is None or count < self.steps:
            try:
                item = next(iterator)
            except StopIteration:
                if self.steps is not None and count < self.steps:
                    raise ValueError(
                        f"{self.where}: the generator ran out after {count} batches, but "
                        f"steps={self.steps} were requested."
                    ) from None
                return
            count += 1
            yield item

    def _unpack(self, item):
        if self.where == "predict" and hasattr(item, "shape"):
            # Keras lets a predict generator yield the inputs alone, without a tuple.
            item = (item,)
        if not isinstance(item, (tuple, list)) or not 1 <= len(item) <= 3:
            raise ValueError(
                f"{self.where}: a generator must yield (x, y) tuples (or (x,) for predict). "
                f"Received: {type(item).__name__}"
            )
        xs = self.model._standardize_inputs(item[0], self.where)
        if self.where == "predict":
            return xs, None, None
        if len(item) < 2:
            raise ValueError(f"{self.where}: the generator yielded x without y.")
        ys = _targets(self.model, item[1], self.where)
        weights = _sample_weights(self.model, ys, item[2] if len(item) == 3 else None, None, self.where)
        return xs, ys, weights


class _PyDatasetData:
    """Batches from a :class:`~course_lib.utils.PyDataset`, in the order Keras's fit gives them.

    As Keras's PyDatasetAdapter and EpochIterator: ``fit(shuffle=True)`` shuffles
    the order of the batches at each new pass; ``steps`` smaller than the number
    of batches makes the next epoch go on where the last one stopped (a new
    pass starts only once every batch was seen); ``steps`` larger ends the
    epoch early with a warning; ``reset()`` (called once by fit, and by every
    evaluation) starts a new pass and calls the dataset's ``on_epoch_end``.
    """

    def __init__(self, model, dataset, y, batch_size, where, steps=None, shuffle=False,
                 sample_weight=None, class_weight=None):
        self.model, self.dataset, self.where = model, dataset, where
        self.name = type(dataset).__name__
        steps = _capped_steps(steps)
        for argument, value, what in (("y", y, "the targets"), ("sample_weight", sample_weight, "the sample weights")):
            if value is not None:
                raise ValueError(
                    f"{where}: when x is a PyDataset ({self.name}), `{argument}` should not be passed: "
                    f"{what} should be part of the batches its __getitem__ returns."
                )
        if batch_size is not None:
            raise ValueError(
                f"{where}: do not pass batch_size with a PyDataset ({self.name}): its __getitem__ "
                f"returns whole batches (Keras ignores the argument). Received: batch_size={batch_size!r}"
            )
        if class_weight is not None and not isinstance(class_weight, dict):
            raise TypeError(
                f"{where}: class_weight must be a dict {{class_index: weight}}. Received: {class_weight!r}"
            )
        if steps is not None:
            _check_positive_int(where, "steps_per_epoch" if where == "fit" else "steps", steps)
        self.class_weight = class_weight
        self.requested_steps = steps
        dataset._warn_if_super_not_called()  # as Keras does, when the subclass skipped super().__init__
        self.num_batches = self._num_batches()
        if self.num_batches is None and steps is None:
            raise ValueError(
                f"{where}: {self.name} is endless (num_batches is None): pass "
                f"{'steps_per_epoch' if where == 'fit' else 'validation_steps' if 'validation' in where else 'steps'}"
                " to say how many batches to take (Keras would never end the epoch)."
            )
        if shuffle and getattr(type(dataset), "_keeps_order_in_fit", False):
            # A loader's dataset stands for a tf.data.Dataset, whose order Keras's fit keeps (and says so).
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was provided as a "
                f"{self.name}, which stands for a tf.data.Dataset in Keras. The Dataset is "
                "expected to already be shuffled (its loader's `shuffle`).", stacklevel=4,
            )
            shuffle = False
        self.shuffle = shuffle and self.num_batches is not None
        if shuffle and self.num_batches is None:
            warnings.warn(
                "`shuffle=True` was passed, but will be ignored since the data `x` was provided as an "
                "infinite PyDataset. The PyDataset is expected to already be shuffled.", stacklevel=4,
            )
        self.steps = steps or self.num_batches
        self._position = None  # where the current pass over the dataset stands; None: no pass open

    def _num_batches(self):
        count = self.dataset.num_batches
        if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 0):
            raise TypeError(
                f"{self.where}: {self.name}.num_batches (or len) must be a non-negative int, or None for an "
                f"endless dataset. Received: {count!r}"
            )
        if count == 0:
            raise ValueError(f"{self.where}: {self.name} has no batches (its length is 0).")
        return count

    def reset(self):
        """Start a new pass, as Keras's EpochIterator.reset: this calls the dataset's on_epoch_end."""
        self._position = None
        self.num_batches = self._num_batches()
        self.dataset.on_epoch_end()

    def split(self, fraction, validation_steps=None):
        raise ValueError(
            f"fit: validation_split is only supported for tensors or NumPy arrays, not for a PyDataset. "
            f"Received: x of type {self.name} and validation_split={fraction}. Pass validation_data "
            "(for instance another PyDataset) instead."
        )

    def batches(self, epoch):
        self.dataset.on_epoch_begin()
        indices = self._epoch_indices()
        for index, item in load_batches(self.dataset, indices, self.where):
            yield self._unpack(item, index)
        if self.requested_steps is not None and len(indices) < self.requested_steps:
            _warn_ran_out(f"({self.name} has {self.num_batches} batches; this epoch took the last {len(indices)}.)")
        self.dataset.on_epoch_end()

    def _epoch_indices(self):
        """The batch positions of this epoch: the rest of the open pass, or a new (maybe shuffled) one."""
        total, steps = self.num_batches, self.requested_steps
        if self._position is None or steps is None:
            self._position = 0
            if total is not None:
                self._order = (backend.to_numpy(backend.permutation(total)).tolist() if self.shuffle
                               else list(range(total)))
        start = self._position
        if total is None:
            self._position += steps
            return range(start, start + steps)
        end = min(start + (steps or total), total)
        self._position = None if end >= total else end
        return self._order[start:end]

    def _unpack(self, item, index):
        source = f"{self.name}.__getitem__({index})"
        if isinstance(item, dict) or hasattr(item, "shape"):
            item = (item,)  # the inputs alone
        elif isinstance(item, list):
            item = tuple(item)
        if not isinstance(item, tuple) or not 1 <= len(item) <= 3:
            received = f"a tuple of {len(item)}" if isinstance(item, tuple) else type(item).__name__
            raise ValueError(
                f"{self.where}: {source} must return a tuple or a dict: (inputs,), (inputs, targets) or "
                f"(inputs, targets, sample_weights), or the inputs alone as an array or a dict. "
                f"Received: {received}"
            )
        try:
            xs = self.model._standardize_inputs(item[0], self.where)
            if self.where == "predict":
                return xs, None, None
            if len(item) < 2 or item[1] is None:
                raise ValueError(
                    f"{self.where}: {source} returned inputs without targets; training and evaluation "
                    "need (inputs, targets) or (inputs, targets, sample_weights) batches."
                )
            if self.class_weight is not None and len(item) == 3:
                raise ValueError(
                    f"{self.where}: {source} returned sample weights and class_weight was passed: you "
                    "cannot specify `class_weight` and `sample_weight` at the same time."
                )
            ys = _targets(self.model, item[1], self.where)
            weights = _sample_weights(self.model, ys, item[2] if len(item) == 3 else None, self.class_weight,
                                      self.where)
        except (ValueError, TypeError) as error:
            if hasattr(error, "add_note") and source not in str(error):
                error.add_note(f"{self.where}: in the batch returned by {source}.")
            raise
        return xs, ys, weights


# ------------------------------------------------------------------ helpers
def _array_epoch(data):
    """The sample indices of one epoch's batches over arrays, as Keras's EpochIterator takes them.

    ``data`` has ``count`` samples, ``batch_size``, ``steps``, ``shuffle`` and
    ``_position`` (batches taken from the open pass, None when none is open;
    ``reset()`` closes it). With ``steps`` smaller than the number of batches
    the next epoch goes on where this one stopped, and a new (reshuffled)
    pass starts only once every batch was seen; an epoch that runs out of
    batches before ``steps`` warns and ends early, as Keras's does.
    """
    total = math.ceil(data.count / data.batch_size)
    if data._position is None:
        data._order = backend.permutation(data.count) if data.shuffle else None
        data._position = 0
    for _ in range(data.steps):
        if data._position >= total:
            _warn_ran_out(f"({total} batches of {data.batch_size} samples; steps={data.steps})")
            break
        start = data._position * data.batch_size
        data._position += 1
        stop = start + data.batch_size
        yield slice(start, stop) if data._order is None else data._order[start:stop]
    if data._position >= total:
        data._position = None


def _capped_steps(steps):
    """``steps`` under ``keras.config.set_max_steps_per_epoch``'s cap, with Keras's warning when it bites."""
    cap = config.max_steps_per_epoch()
    if cap and (not steps or cap < steps):
        warnings.warn(f"Limiting steps_per_epoch to {cap}", stacklevel=4)
        return cap
    return steps


def _warn_ran_out(detail):
    """Keras's warning when an epoch's data ends before its ``steps``."""
    warnings.warn(
        "Your input ran out of data; interrupting training. Make sure that your dataset or "
        f"generator can generate at least `steps_per_epoch * epochs` batches. {detail}",
        UserWarning, stacklevel=3,
    )


def _data(model, x, *args, **kwargs):
    """The batches of x: a _PyDatasetData for a PyDataset, else a _Data (arrays, generators)."""
    return (_PyDatasetData if isinstance(x, PyDataset) else _Data)(model, x, *args, **kwargs)


def _is_generator_like(x):
    if x is None or hasattr(x, "shape") or isinstance(x, (list, tuple, dict)):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__") or (
        hasattr(x, "__getitem__") and hasattr(x, "__len__")
    )


def _targets(model, y, where):
    from course_lib.models import _structure_to_list

    names = model._output_count_names()
    targets = _structure_to_list(y, names, where, "targets")
    result = []
    for target in targets:
        array = backend.xp.asarray(target)
        if array.dtype.kind not in "biuf":
            raise TypeError(
                f"{where}: targets must be numeric. Received: an array of dtype {array.dtype}"
            )
        result.append(array)
    return result


def _batch_size(xs):
    return len(xs[0])


def _per_output(value, names, what):
    if isinstance(value, dict):
        unknown = set(value) - set(names)
        if unknown:
            raise ValueError(f"compile: {what} has keys {sorted(unknown)} that are not outputs {names}.")
        missing = [n for n in names if n not in value]
        if missing:
            raise ValueError(f"compile: {what} is missing outputs {missing}.")
        return [value[name] for name in names]
    if isinstance(value, (list, tuple)):
        if len(value) != len(names):
            raise ValueError(
                f"compile: {what} must have one entry per output ({len(names)}: {names}). "
                f"Received {len(value)}."
            )
        return list(value)
    return [value] * len(names)


def _metrics_per_output(metrics, names):
    if metrics is None:
        return [[] for _ in names]
    if isinstance(metrics, dict):
        return [_as_list(metrics.get(name)) for name in names]
    if not isinstance(metrics, (list, tuple)):
        raise TypeError(f"compile: metrics must be a list or a dict. Received: {metrics!r}")
    if len(names) > 1 and metrics and all(isinstance(m, (list, tuple)) or m is None for m in metrics):
        return [_as_list(m) for m in _per_output(list(metrics), names, "metrics")]
    return [list(metrics) for _ in names]


def _as_list(value):
    if value is None:
        return []
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _logits_activation(loss_object):
    """The output activation whose logits a crossentropy is scored from, or None.

    As Keras's TensorFlow backend, which reads a softmax/sigmoid output's `_keras_logits`
    whatever `from_logits` says: a plain crossentropy with from_logits=True on such an
    output gets Keras's warning and then the logits too. The focal losses with
    from_logits=True apply the activation themselves first, so they never do.
    """
    if not hasattr(loss_object, "with_logits"):
        return None
    if getattr(loss_object, "from_logits", True) and type(loss_object) not in _PLAIN_CROSSENTROPIES:
        return None
    return _probability_activation(loss_object)


def _takes_mask(loss_object):
    """Whether the loss's own methods take a predictions' mask (course_lib's Loss does; an override may not)."""
    kind = type(loss_object)
    return all("mask" in (getattr(getattr(kind, name, None), "__kwdefaults__", None) or {})
               for name in ("__call__", "value_and_gradient"))


def _output_logits_activation(layer):
    """The activation whose logits ``layer``'s output carries (the engine's logits protocol), or None."""
    hook = getattr(layer, "output_logits_activation", None)
    return None if hook is None else hook()


_PLAIN_CROSSENTROPIES = (losses.BinaryCrossentropy, losses.CategoricalCrossentropy,
                         losses.SparseCategoricalCrossentropy)
"""The losses whose from_logits=True on a matching sigmoid/softmax output Keras warns about."""


def _probability_activation(loss_object):
    """The activation whose outputs a crossentropy reads as probabilities: sigmoid (binary) or softmax."""
    return "sigmoid" if isinstance(loss_object, losses.BinaryCrossentropy) else "softmax"


def _is_deferred(loss):
    return isinstance(loss, str) and loss.lower() in ("crossentropy", "ce")


def _serialize_spec(spec, module):
    """A loss or metrics argument of compile as Keras saves it: names stay names, objects become dicts."""
    if spec is None or isinstance(spec, (str, int, float)):
        return spec
    if isinstance(spec, (list, tuple)):
        return [_serialize_spec(item, module) for item in spec]
    if isinstance(spec, dict):
        return {key: _serialize_spec(item, module) for key, item in spec.items()}
    if hasattr(spec, "get_config"):
        return {"module": module.__name__.replace("course_lib", "keras"), "class_name": type(spec).__name__,
                "config": spec.get_config(), "registered_name": None}
    name = getattr(spec, "__name__", None)
    if name is None:
        raise TypeError(f"save: cannot serialize the compile argument {spec!r}.")
    return name


def _take(arrays, index):
    if arrays is None:
        return None
    return [None if a is None else a[index] for a in arrays]


def _sample_weights(model, ys, sample_weight, class_weight, where):
    """One weight array (or None) per output, from sample_weight or class_weight (Keras's rules)."""
    if sample_weight is not None and class_weight is not None:
        raise ValueError(f"{where}: pass either sample_weight or class_weight, not both.")
    if class_weight is not None:
        if not isinstance(class_weight, dict):
            raise TypeError(
                f"{where}: class_weight must be a dict {{class_index: weight}}. Received: {class_weight!r}"
            )
        if len(ys) != 1:
            raise ValueError(f"{where}: class_weight is only supported for models with a single output.")
        labels = ys[0]
        if labels.ndim > 1:
            labels = labels.argmax(axis=-1) if labels.shape[-1] != 1 else labels[..., 0]
        labels = backend.xp.round(labels).astype("int64")
        weights = backend.xp.array([class_weight.get(int(label), 1.0) for label in labels], dtype=backend.floatx())
        return [weights]
    if sample_weight is None:
        return None
    from course_lib.models import _structure_to_list

    names = model._output_count_names()
    if isinstance(sample_weight, (list, tuple, dict)) and len(names) > 1:
        per_output = _structure_to_list(sample_weight, names, where, "sample weights")
    else:
        per_output = [sample_weight] * len(names)
    result = []
    for weights in per_output:
        if weights is None:
            result.append(None)
            continue
        weights = backend.to_array(weights, None, f"{where} sample_weight")
        if weights.ndim != 1 and not (weights.ndim == 2 and weights.shape[1] == 1):
            raise ValueError(
                f"{where}: sample_weight must have shape (samples,) or (samples, 1). "
                f"Received: shape {weights.shape}"
            )
        result.append(weights.reshape(-1))
    return result


def _check_positive_int(where, name, value):
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{where}: {name} must be a positive int. Received: {name}={value!r}")


# ---- the batches a custom train_step / test_step receives -------------------
def unpack_x_y_sample_weight(data):
    """``(x, y, sample_weight)`` from a batch: the inputs alone, ``(x,)``, ``(x, y)`` or ``(x, y, w)`` (Keras)."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if not 1 <= len(data) <= 3:
        raise ValueError(f"Data is expected to be in format `x`, `(x,)`, `(x, y)`, or `(x, y, sample_weight)`, "
                         f"found: {data!r}")
    return data + (None,) * (3 - len(data))


def _pack(x, y=None, sample_weight=None):
    """Keras's ``pack_x_y_sample_weight``: the inputs alone when there are no targets, else a tuple."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    return (x, y) if sample_weight is None else (x, y, sample_weight)


def _float_logs(logs, where):
    if not isinstance(logs, dict):
        raise TypeError(f"{where} must return a dict of logs {{name: value}}. Received: {type(logs).__name__}")
    return {name: _log_value(value) if not isinstance(value, dict) else value for name, value in logs.items()}


def _log_value(value):
    """A log's value on the host: a float, or a NumPy array for a metric with one value per threshold or class
    (``Precision(thresholds=[...])``, ``F1Score(average=None)``), which Keras's History keeps as an array too."""
    array = backend.to_numpy(value)
    return float(array) if array.ndim == 0 else array


def _flat_results(logs):
    values = list(logs.values())
    return values[0] if len(values) == 1 else values


class _StepData:
    """Batches for a custom train_step / test_step: array slices packed as Keras packs them, or a generator's items."""

    def __init__(self, x, y, sample_weight, batch_size, where, steps=None, shuffle=False):
        steps = _capped_steps(steps)
        self.where, self.shuffle, self.steps = where, shuffle, steps
        self.requested_steps = steps
        self._position = None
        if batch_size is not None:
            _check_positive_int(where, "batch_size", batch_size)
        self.batch_size = batch_size or 32
        if x is None:
            raise ValueError(f"{where}: x is required.")
        self.source = x if (_is_generator_like(x) or isinstance(x, PyDataset)) else None
        if self.source is not None:
            if y is not None or sample_weight is not None:
                raise ValueError(f"{where}: when x is a generator or dataset, it yields the targets itself.")
            if steps is None and hasattr(x, "__len__"):
                self.steps = len(x)
            return
        self.parts = (x, y, sample_weight)
        sizes = {len(leaf) for leaf in _leaves(self.parts)}
        if len(sizes) != 1:
            raise ValueError(f"{where}: x, y (and sample_weight) must have the same number of samples. "
                             f"Received sizes {sorted(sizes)}")
        self.count = sizes.pop()
        if self.steps is None:
            self.steps = math.ceil(self.count / self.batch_size)

    @classmethod
    def from_validation(cls, data, batch_size, steps):
        if isinstance(data, (tuple, list)) and len(data) in (2, 3):
            return cls(data[0], data[1], data[2] if len(data) == 3 else None, batch_size,
                       "fit (validation_data)", steps)
        return cls(data, None, None, None, "fit (validation_data)", steps)

    def split(self, fraction, validation_steps=None):
        split_at = _split_point(self, fraction)
        first, second = (_StepData(*_slice(self.parts, chunk), self.batch_size, self.where, steps, shuffle)
                         for chunk, steps, shuffle in ((slice(0, split_at), self.requested_steps, self.shuffle),
                                                       (slice(split_at, None), validation_steps, False)))
        return first, second

    def reset(self):
        """Close the open pass over the arrays."""
        self._position = None

    def batches(self, epoch):
        if self.source is not None:
            items = (self.source[i] for i in range(self.steps)) if hasattr(self.source, "__getitem__") \
                else iter(self.source)
            for count, item in enumerate(items):
                if self.steps is not None and count >= self.steps:
                    break
                yield item
            return
        for index in _array_epoch(self):
            yield _pack(*_slice(self.parts, index))


def _split_point(data, fraction):
    """Where Keras's validation_split cuts array data (``data.count`` samples): the last ``fraction`` is held out."""
    if data.source is not None:
        raise ValueError("fit: validation_split is only supported for array inputs, not generators.")
    split_at = int(math.floor(data.count * (1.0 - fraction)))
    if split_at in (0, data.count):
        raise ValueError(
            f"fit: validation_split={fraction} leaves no samples in one part ({data.count} samples in all)."
        )
    return split_at


def _leaves(value):
    if value is None:
        return []
    if isinstance(value, dict):
        return [leaf for item in value.values() for leaf in _leaves(item)]
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _leaves(item)]
    return [value]


def _slice(value, index):
    if value is None:
        return None
    if isinstance(value, dict):
        return {key: _slice(item, index) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(_slice(item, index) for item in value)
    return backend.xp.asarray(value)[index]
