"""The Keras-style progress bar printed by fit, evaluate and predict."""
import sys
import time


def _dynamic_display():
    """Redraw one line in place in terminals and notebooks; otherwise print whole lines."""
    return (hasattr(sys.stdout, "isatty") and sys.stdout.isatty()) or "ipykernel" in sys.modules


class Progbar:
    """Prints ``12/32 ━━━━━━━━━━━━━━━━━━━━ 0s 2ms/step - accuracy: 0.81 - loss: 0.52``.

    Args:
        target: total number of steps, or None when unknown.
        verbose: 1 redraws a bar after every step, 2 prints one line at the end.
        width: characters in the bar.
    """

    def __init__(self, target, verbose=1, width=20, unit="step"):
        self.target = target
        self.verbose = verbose
        self.width = width
        self.unit = unit
        self.dynamic = _dynamic_display()
        self.start = time.time()
        self._last_length = 0

    def _values_text(self, values):
        return "".join(f" - {name}: {_format(value)}" for name, value in (values or []))

    def update(self, current, values=None, finalize=None):
        """Show progress after ``current`` steps with ``values`` [(name, value), ...]."""
        if finalize is None:
            finalize = self.target is not None and current >= self.target
        elapsed = time.time() - self.start
        per_step = elapsed / max(current, 1)
        timing = f"{per_step * 1000:.0f}ms/{self.unit}" if per_step >= 1e-3 else f"{per_step * 1e6:.0f}us/{self.unit}"
        if self.verbose == 1:
            if not self.dynamic and not finalize:
                return
            if self.target is not None:
                filled = int(self.width * current / self.target)
                bar = f"{current}/{self.target} " + "━" * filled + "─" * (self.width - filled)
            else:
                bar = f"{current}"
            line = f"{bar} {elapsed:.0f}s {timing}{self._values_text(values)}"
            padding = " " * max(self._last_length - len(line), 0)
            self._last_length = len(line)
            end = "\n" if finalize else ""
            sys.stdout.write(("\r" if self.dynamic else "") + line + padding + end)
            sys.stdout.flush()
        elif self.verbose == 2 and finalize:
            steps = f"{current}/{self.target}" if self.target is not None else f"{current}"
            sys.stdout.write(f"{steps} - {elapsed:.0f}s - {timing}{self._values_text(values)}\n")
            sys.stdout.flush()


def _format(value):
    # As Keras's Progbar: a metric with one value per threshold or class (a host array) shows their mean.
    value = float(value.mean()) if hasattr(value, "mean") else float(value)
    return f"{value:.4f}" if abs(value) >= 1e-3 or value == 0 else f"{value:.4e}"
