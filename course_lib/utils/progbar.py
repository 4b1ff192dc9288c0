"""The Keras-style progress bar printed by fit, evaluate and predict: ``keras.utils.Progbar``.

The constructor, ``update`` and ``add`` are Keras's, and so is the bookkeeping
of the values shown: a value is averaged over the steps since the bar began
(each update weighted by the steps it covers) unless its name is in
``stateful_metrics`` (shown as given), or, when ``stateless_metrics`` is
passed instead, only the names listed there are averaged; the final update
(``finalize``) shows the values it is given. ``interval`` throttles redraws.

What differs is the text, which stays course_lib's plain line
(``12/32 ━━━━━━━━━━────────── 0s 2ms/step - loss: 0.5200``): no terminal
colour codes, the elapsed time where Keras shows the time left, ``ms`` or
``us`` per step where Keras may show ``s``, and, outside a terminal or
notebook, one line when the bar ends instead of one per update. The line
printed with ``verbose=2`` is Keras's, but for the time figures.
"""
import logging
import sys
import time

from course_lib import config


def _write(text):
    """Keras's ``io_utils.print_msg``: to standard output, or, with interactive logging off, to the logger."""
    if config.is_interactive_logging_enabled():
        sys.stdout.write(text)
        sys.stdout.flush()
    else:
        logging.getLogger("course_lib").info(text.strip())


def print_msg(message):
    """One line of a callback's report (Keras's ``io_utils.print_msg``): printed, or logged when
    ``config.disable_interactive_logging()`` is in force."""
    _write(message + "\n")


def _dynamic_display():
    """Redraw one line in place in terminals and notebooks; otherwise print whole lines."""
    return (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules


class Progbar:
    """Prints ``12/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.81 - loss: 0.52``.

    Args:
        target: total number of steps, or None when unknown.
        width: characters in the bar.
        verbose: 0 silent, 1 redraws a bar after every step, 2 prints one line at the end.
        interval: the shortest time in seconds between two redraws (``verbose=1``).
        stateful_metrics: names of the values shown as given; every other one is
            averaged over the steps. Do not pass it with ``stateless_metrics``.
        stateless_metrics: names of the values averaged over the steps; every
            other one is shown as given. Do not pass it with ``stateful_metrics``.
        unit_name: what a step is called (``"step"`` or ``"sample"``).
    """

    def __init__(self, target, width=20, verbose=1, interval=0.05, stateful_metrics=None, stateless_metrics=None,
                 unit_name="step"):
        if stateful_metrics is not None and stateless_metrics is not None:
            raise ValueError(
                "Progbar: pass only one of stateful_metrics (the values shown as given; the others are averaged) "
                "and stateless_metrics (the values averaged; the others are shown as given). Received: "
                f"stateful_metrics={stateful_metrics!r}, stateless_metrics={stateless_metrics!r}"
            )
        self.target = target
        self.width = width
        self.verbose = verbose
        self.interval = interval
        self.unit_name = unit_name
        if stateful_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = set(stateful_metrics), None
        elif stateless_metrics is not None:
            self.stateful_metrics, self.stateless_metrics = None, set(stateless_metrics)
        else:
            self.stateful_metrics, self.stateless_metrics = set(), None
        self._dynamic_display = _dynamic_display()
        self._seen_so_far = 0
        self._values = {}  # name -> [weighted sum, steps]
        self._values_order = []
        self._start = time.time()
        self._last_update = 0
        self._prev_total_width = 0

    def _averaged(self, name):
        if self.stateful_metrics is not None:
            return name not in self.stateful_metrics
        return name in self.stateless_metrics

    def _record(self, current, values, finalize):
        """Keras's bookkeeping: weighted sums for the averaged values, the last value for the others."""
        for name, value in values or []:
            if name not in self._values_order:
                self._values_order.append(name)
            if self._averaged(name) and not finalize:
                steps = max(current - self._seen_so_far, 1)
                total = self._values.setdefault(name, [0, 0])
                total[0] = total[0] + value * steps
                total[1] += steps
            else:
                self._values[name] = [value, 1]
        self._seen_so_far = current

    def _values_text(self):
        text = ""
        for name in self._values_order:
            total, steps = self._values[name]
            text += f" - {name}: {_format(total, steps)}"
        return text

    def update(self, current, values=None, finalize=None):
        """Show progress after ``current`` steps.

        Args:
            current: the number of steps done.
            values: ``[(name, value_for_last_step), ...]``: averaged over the
                steps unless ``name`` is stateful (see the constructor).
            finalize: whether this is the last update; by default when
                ``current >= target``.
        """
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        self._record(current, values, finalize)
        now = time.time()
        elapsed = now - self._start
        per_step = elapsed / max(current, 1)
        unit = self.unit_name
        timing = f"{per_step * 1000:.0f}ms/{unit}" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/{unit}"
        if self.verbose == 1:
            if not finalize and (not self._dynamic_display or now - self._last_update < self.interval):
                return
            if self.target is not None:
                filled = int(self.width * current / self.target) if self.target else self.width
                bar = f"{current}/{self.target} " + "━" * filled + "─" * (self.width - filled)
            else:
                bar = f"{current}"
            line = f"{bar} {elapsed:.0f}s {timing}{self._values_text()}"
            padding = " " * max(self._prev_total_width - len(line), 0)
            self._prev_total_width = len(line)
            end = "\n" if finalize else ""
            if not finalize and not config.is_interactive_logging_enabled():
                return  # a log gets the finished line only, not every redraw
            _write(("\r" if self._dynamic_display else "") + line + padding + end)
        elif self.verbose == 2 and finalize:
            steps = f"{current}/{self.target}" if self.target is not None else f"{current}"
            _write(f"{steps} - {elapsed:.0f}s - {timing}{self._values_text()}\n")
        self._last_update = now

    def add(self, n, values=None):
        """Advance by ``n`` steps: ``update(steps_so_far + n, values)``."""
        self.update(self._seen_so_far + n, values)


def _format(total, steps=1):
    # As Keras's Progbar: a metric with one value per threshold or class (a host array) shows their mean.
    value = float(total.mean()) if hasattr(total, "mean") else float(total)
    value /= max(1, steps)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"
