"""Recurrent cells and backpropagation through time, forward and backward side by side.

Every built-in cell is split the same way, which is what makes the loop fast:

- the **input projection** ``x_t @ kernel + bias`` of all time steps is one
  matrix product before the loop (:meth:`CellMath.project`), and its gradient
  one product after the backward loop (:meth:`CellMath.project_backward`);
- the **step** is what is left: one product with the recurrent kernel per time
  step and the gates' element-wise arithmetic (:meth:`CellMath.step`);
- the backward step returns the gradient of the projected inputs and of the
  previous state, and records the recurrent product's two factors, so the
  recurrent kernel's gradient is one product over all time steps at the end.

Keras's layouts (so weights copy both ways): kernel ``(features, G*units)``,
recurrent kernel ``(units, G*units)``, bias ``(G*units,)`` with the gates in
Keras's order (LSTM i, f, c, o; GRU z, r, h), and GRU ``reset_after=True``
with a bias of shape ``(2, 3*units)``: the input bias, then the recurrent bias.

Dropout as Keras 3 draws it: a mask per sequence (reused at every time step),
one mask shared by all gates unless ``recurrent_dropout`` is set, in which
case Keras switches to its "implementation 1" with one mask per gate for the
inputs and one per gate for the recurrent state.

The single-step functions at the end (``lstm_step_forward`` ...) are what the
graded notebook asks students to write; they run the same code.
"""
from __future__ import annotations

from course_lib import activations, backend


def _xp():
    return backend.xp


class CellMath:
    """The arithmetic of one cell type for one call: projection, step, and their gradients.

    Args:
        units: size of the state.
        gates: how many ``units``-wide blocks the kernel has (1, 3 or 4).
        kernel, recurrent_kernel, bias: the cell's weights (``bias`` None without one).
        activation, recurrent_activation: activation functions (objects of
            :mod:`course_lib.activations`).
        input_masks: None, or a list of ``(batch, features)`` dropout masks:
            one shared by all gates, or one per gate.
        recurrent_masks: None, or a list of ``(batch, units)`` masks, likewise.

    An instance belongs to one call (it collects the factors of the recurrent
    kernel's gradient during the backward loop); :meth:`weight_gradients`
    turns them into the weight gradients.
    """

    gates = 1
    # SimpleRNN and LSTM add the recurrent product to the projected inputs and nothing else, so
    # the product's gradient is the projected inputs' gradient: the recurrent kernel's gradient
    # then needs only the factors h_{t-1} (kept in forward order), not a record per backward step.
    recurrent_gradient_is_input_gradient = False

    def __init__(self, units, kernel, recurrent_kernel, bias, activation, recurrent_activation=None,
                 input_masks=None, recurrent_masks=None):
        self.units = units
        self.kernel = kernel
        self.recurrent_kernel = recurrent_kernel
        self.bias = bias
        self.activation = activation
        self.recurrent_activation = recurrent_activation
        self.input_masks = input_masks
        self.recurrent_masks = recurrent_masks
        self._factors = {}  # column block -> ([A_t], [dB_t]) with dU[:, block] = sum A_t^T dB_t
        self._whole_factors = []  # A_t of the whole-kernel products whose dB_t is the input gradient
        # Keras's default gate activation, sigmoid, is computed as (1 + tanh(x/2)) / 2: the same
        # function, one transcendental call instead of the overflow-safe two-branch form.
        self._sigmoid_gates = getattr(recurrent_activation, "name", None) == "sigmoid"

    def gate(self, pre):
        """The recurrent activation (the gates' nonlinearity) of ``pre``."""
        if self._sigmoid_gates:
            out = _xp().tanh(pre * pre.dtype.type(0.5))
            out *= out.dtype.type(0.5)
            out += out.dtype.type(0.5)
            return out
        return self.recurrent_activation(pre)

    def gate_backward(self, pre, out, dout, overwrite=False):
        """The gradient of :meth:`gate`'s input; ``overwrite=True`` may reuse ``dout``'s memory."""
        if self._sigmoid_gates:
            grad = dout if overwrite else dout.copy()
            grad *= out
            grad *= 1 - out
            return grad
        return self.recurrent_activation.backward(pre, out, dout)

    # ------------------------------------------------------------------ blocks
    def _block(self, gate):
        return slice(gate * self.units, (gate + 1) * self.units)

    def _mask_for(self, masks, gate):
        if masks is None:
            return None
        return masks[gate] if len(masks) > 1 else masks[0]

    def input_bias(self):
        return self.bias

    # -------------------------------------------------------------- projection
    def project(self, x):
        """``x @ kernel + input bias`` for every time step: ``(T, N, F) -> (T, N, G*units)``."""
        xp = _xp()
        steps, batch, features = x.shape
        bias = self.input_bias()
        if self.input_masks is None or len(self.input_masks) == 1:
            inputs = x if self.input_masks is None else x * self.input_masks[0]
            out = inputs.reshape(steps * batch, features) @ self.kernel
        else:
            out = xp.empty((steps * batch, self.kernel.shape[1]), dtype=x.dtype)
            for gate, mask in enumerate(self.input_masks):
                block = self._block(gate)
                out[:, block] = (x * mask).reshape(steps * batch, features) @ self.kernel[:, block]
        if bias is not None:
            out += bias
        return out.reshape(steps, batch, -1)

    def project_backward(self, dxz, x, need_dx=True):
        """Gradients of :meth:`project`: ``(dx, dkernel, dinput_bias)``."""
        steps, batch, features = x.shape
        d2 = dxz.reshape(steps * batch, -1)
        dbias = d2.sum(axis=0) if self.bias is not None else None
        if self.input_masks is None or len(self.input_masks) == 1:
            mask = None if self.input_masks is None else self.input_masks[0]
            inputs = x if mask is None else x * mask
            dkernel = inputs.reshape(steps * batch, features).T @ d2
            dx = None
            if need_dx:
                dx = (d2 @ self.kernel.T).reshape(steps, batch, features)
                if mask is not None:
                    dx *= mask
            return dx, dkernel, dbias
        xp = _xp()
        dkernel = xp.empty_like(self.kernel)
        dx = xp.zeros_like(x) if need_dx else None
        for gate, mask in enumerate(self.input_masks):
            block = self._block(gate)
            dkernel[:, block] = (x * mask).reshape(steps * batch, features).T @ d2[:, block]
            if need_dx:
                dx += (d2[:, block] @ self.kernel[:, block].T).reshape(steps, batch, features) * mask
        return dx, dkernel, dbias

    # --------------------------------------------------- the recurrent product
    def _recurrent(self, h, first_gate, last_gate):
        """``h @ recurrent_kernel[:, gates]`` (with the recurrent dropout masks) and its record."""
        xp = _xp()
        masks = self.recurrent_masks
        if masks is None or len(masks) == 1:
            factor = h if masks is None else h * masks[0]
            if self.recurrent_gradient_is_input_gradient and (first_gate, last_gate) == (0, self.gates):
                self._whole_factors.append(factor)
                return factor @ self.recurrent_kernel, None
            block = slice(first_gate * self.units, last_gate * self.units)
            return factor @ self.recurrent_kernel[:, block], [(block, factor)]
        out = xp.empty((h.shape[0], (last_gate - first_gate) * self.units), dtype=h.dtype)
        records = []
        for gate in range(first_gate, last_gate):
            factor = h * masks[gate]
            block = self._block(gate)
            out[:, (gate - first_gate) * self.units:(gate - first_gate + 1) * self.units] = (
                factor @ self.recurrent_kernel[:, block]
            )
            records.append((block, factor))
        return out, records

    def _recurrent_backward(self, dout, records, first_gate):
        """Record ``(factor, dout)`` for the kernel's gradient; return the gradient of ``h``."""
        if records is None:  # a whole-kernel product: dout is this step's input gradient, kept anyway
            dh = dout @ self.recurrent_kernel.T
            mask = self._mask_for(self.recurrent_masks, 0)
            return dh if mask is None else dh * mask
        dh = None
        for block, factor in records:
            start = block.start - first_gate * self.units
            dblock = dout[:, start:start + block.stop - block.start]
            factors, grads = self._factors.setdefault((block.start, block.stop), ([], []))
            factors.append(factor)
            grads.append(dblock)
            term = dblock @ self.recurrent_kernel[:, block].T
            mask = self._mask_for(self.recurrent_masks, block.start // self.units)
            if mask is not None:
                term = term * mask
            dh = term if dh is None else dh + term
        return dh

    def recurrent_kernel_gradient(self, dxz):
        """The recurrent kernel's gradient: one product per column block over all time steps.

        Args:
            dxz: the gradients of the projected inputs, ``(T, N, G*units)`` time-major.
        """
        xp = _xp()
        grad = xp.zeros_like(self.recurrent_kernel)
        if self._whole_factors:
            a = xp.concatenate(self._whole_factors, axis=0)  # h_{t-1} for t = 0 .. T-1, (T*N, units)
            grad += a.T @ dxz.reshape(a.shape[0], -1)
        for (start, stop), (factors, grads) in self._factors.items():
            a = xp.concatenate(factors[::-1], axis=0)  # recorded backwards: back into time order
            b = xp.concatenate(grads[::-1], axis=0)
            grad[:, start:stop] += a.T @ b
        return grad

    def weight_gradients(self, dxz, dkernel, dbias):
        """``{kernel, recurrent_kernel, bias}`` gradients from :meth:`project_backward`'s and ``dxz``."""
        grads = {"kernel": dkernel, "recurrent_kernel": self.recurrent_kernel_gradient(dxz)}
        if self.bias is not None:
            grads["bias"] = dbias
        return grads


class SimpleRNNMath(CellMath):
    """``h = activation(x @ W + b + h_prev @ U)``."""

    recurrent_gradient_is_input_gradient = True

    def step(self, xz, states):
        (h_prev,) = states
        rec, records = self._recurrent(h_prev, 0, 1)
        pre = xz + rec
        h = self.activation(pre)
        return h, [h], (pre, h, records)

    def step_backward(self, dout, dstates, cache):
        pre, h, records = cache
        dh = dout if dstates[0] is None else dout + dstates[0]
        dpre = self.activation.backward(pre, h, dh)
        return dpre, [self._recurrent_backward(dpre, records, 0)]


class LSTMMath(CellMath):
    """Gates i, f, c, o: ``c = f*c_prev + i*g``, ``h = o*activation(c)``."""

    gates = 4
    recurrent_gradient_is_input_gradient = True

    def step(self, xz, states):
        h_prev, c_prev = states
        rec, records = self._recurrent(h_prev, 0, 4)
        rec += xz
        z = rec
        u = self.units
        gates = self.gate(z)  # i, f, (unused), o in one call; the c block takes `activation`
        g = self.activation(z[:, 2 * u:3 * u])
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        c = f * c_prev
        c += i * g
        tc = self.activation(c)
        h = o * tc
        return h, [h, c], (z, gates, g, c_prev, c, tc, records)

    def step_backward(self, dout, dstates, cache):
        z, gates, g, c_prev, c, tc, records = cache
        xp = _xp()
        u = self.units
        act = self.activation
        i, f, o = gates[:, :u], gates[:, u:2 * u], gates[:, 3 * u:]
        dh = dout if dstates[0] is None else dout + dstates[0]
        dc = act.backward(c, tc, dh * o)
        if dstates[1] is not None:
            dc += dstates[1]
        dgates = xp.empty_like(z)
        dgates[:, :u] = dc * g
        dgates[:, u:2 * u] = dc * c_prev
        dgates[:, 2 * u:3 * u] = 0
        dgates[:, 3 * u:] = dh * tc
        dz = self.gate_backward(z, gates, dgates, overwrite=True)
        dz[:, 2 * u:3 * u] = act.backward(z[:, 2 * u:3 * u], g, dc * i)
        return dz, [self._recurrent_backward(dz, records, 0), dc * f]


class GRUMath(CellMath):
    """Gates z, r, h: ``h = z*h_prev + (1-z)*candidate``.

    ``reset_after=True`` (Keras's default): ``candidate = activation(x@Wh + b_in
    + r*(h_prev@Uh + b_rec))``; ``False``: ``activation(x@Wh + b + (r*h_prev)@Uh)``.
    """

    gates = 3

    def __init__(self, *args, reset_after=True, **kwargs):
        super().__init__(*args, **kwargs)
        self.reset_after = reset_after
        self._recurrent_bias_grads = []  # reset_after: the recurrent bias's gradient per step

    def input_bias(self):
        if self.bias is None:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, xz, states):
        (h_prev,) = states
        u = self.units
        act = self.activation
        if self.reset_after:
            inner, records = self._recurrent(h_prev, 0, 3)
            if self.bias is not None:
                inner = inner + self.bias[1]
            pre_zr = xz[:, :2 * u] + inner[:, :2 * u]
            zr = self.gate(pre_zr)
            z, r = zr[:, :u], zr[:, u:]
            pre_h = xz[:, 2 * u:] + r * inner[:, 2 * u:]
            cache_h = (inner, records)
        else:
            inner, records = self._recurrent(h_prev, 0, 2)
            pre_zr = xz[:, :2 * u] + inner
            zr = self.gate(pre_zr)
            z, r = zr[:, :u], zr[:, u:]
            rec_h, records_h = self._recurrent(r * h_prev, 2, 3) if self.recurrent_masks is None else (
                self._reset_before_dropout(r, h_prev))
            pre_h = xz[:, 2 * u:] + rec_h
            cache_h = (inner, records, records_h)
        candidate = act(pre_h)
        h = z * h_prev + (1 - z) * candidate
        return h, [h], (xz, pre_zr, zr, pre_h, candidate, h_prev, cache_h)

    def _reset_before_dropout(self, r, h_prev):
        # Keras: (r * (h_prev * mask_h)) @ U_h; the record keeps the factor the kernel saw.
        factor = r * (h_prev * self.recurrent_masks[2])
        block = self._block(2)
        return factor @ self.recurrent_kernel[:, block], [(block, factor)]

    def step_backward(self, dout, dstates, cache):
        xz, pre_zr, zr, pre_h, candidate, h_prev, cache_h = cache
        xp = _xp()
        u = self.units
        act = self.activation
        dh = dout if dstates[0] is None else dout + dstates[0]
        z, r = zr[:, :u], zr[:, u:]
        dxz = xp.empty_like(xz)
        dpre_h = act.backward(pre_h, candidate, dh * (1 - z))
        dxz[:, 2 * u:] = dpre_h
        dzr = xp.empty_like(zr)
        dzr[:, :u] = dh * (h_prev - candidate)
        dh_prev = dh * z
        if self.reset_after:
            inner, records = cache_h
            dzr[:, u:] = dpre_h * inner[:, 2 * u:]
            dpre_zr = self.gate_backward(pre_zr, zr, dzr)
            dinner = xp.empty_like(inner)
            dinner[:, :2 * u] = dpre_zr
            dinner[:, 2 * u:] = dpre_h * r
            dh_prev = dh_prev + self._recurrent_backward(dinner, records, 0)
            self._recurrent_bias_grads.append(dinner)
        else:
            inner, records, records_h = cache_h
            (block, factor), = records_h
            factors, grads = self._factors.setdefault((block.start, block.stop), ([], []))
            factors.append(factor)
            grads.append(dpre_h)
            dfactor = dpre_h @ self.recurrent_kernel[:, block].T  # gradient of the reset state r*h'
            h_seen = h_prev if self.recurrent_masks is None else h_prev * self.recurrent_masks[2]
            dzr[:, u:] = dfactor * h_seen
            dh_prev = dh_prev + (dfactor * r if self.recurrent_masks is None else dfactor * r * self.recurrent_masks[2])
            dpre_zr = self.gate_backward(pre_zr, zr, dzr)
            dh_prev = dh_prev + self._recurrent_backward(dpre_zr, records, 0)
        dxz[:, :2 * u] = dpre_zr
        return dxz, [dh_prev]

    def weight_gradients(self, dxz, dkernel, dbias):
        grads = {"kernel": dkernel, "recurrent_kernel": self.recurrent_kernel_gradient(dxz)}
        if self.bias is not None:
            if self.reset_after:
                xp = _xp()
                drec = xp.concatenate(self._recurrent_bias_grads, axis=0).sum(axis=0) if self._recurrent_bias_grads \
                    else xp.zeros_like(self.bias[1])
                grads["bias"] = xp.stack([dbias, drec])
            else:
                grads["bias"] = dbias
        return grads


# ------------------------------------------------------------- the time loop
def time_major(x):
    """``(N, T, ...) -> (T, N, ...)`` as a contiguous copy (each step then reads one block)."""
    return _xp().ascontiguousarray(x.swapaxes(0, 1))


def rnn_loop(step, inputs, states, mask=None, zero_output_for_mask=False):
    """Run ``step`` over time, as Keras's backend ``rnn`` does.

    Args:
        step: ``step(input_t, states) -> (output, new_states, cache)``.
        inputs: time-major inputs ``(T, N, ...)`` (already reversed for ``go_backwards``).
        states: the initial states, a list of ``(N, size)`` arrays.
        mask: None, or a time-major boolean ``(T, N)`` array; at a masked step
            the states are carried through unchanged and the output repeats
            the previous step's output (zeros before the first one), or is
            zeros with ``zero_output_for_mask``.

    Returns:
        ``(outputs, states, caches)``: outputs ``(T, N, units)`` time-major,
        the final states, and the per-step caches for :func:`rnn_loop_backward`.
    """
    xp = _xp()
    outputs = None
    caches = []
    for t in range(inputs.shape[0]):
        out, new_states, cache = step(inputs[t], states)
        if outputs is None:
            outputs = xp.empty((inputs.shape[0],) + out.shape, dtype=out.dtype)
        if mask is not None:
            keep = mask[t][:, None]
            new_states = [xp.where(keep, new, old) for new, old in zip(new_states, states)]
            previous = outputs[t - 1] if t > 0 and not zero_output_for_mask else 0
            out = xp.where(keep, out, previous)
        outputs[t] = out
        states = new_states
        caches.append(cache)
    return outputs, states, caches


def rnn_loop_backward(step_backward, output_grads, state_grads, caches, mask=None, zero_output_for_mask=False):
    """The mirror image of :func:`rnn_loop`.

    Args:
        step_backward: ``step_backward(d_output, d_new_states, cache) -> (d_input_t, d_states)``;
            an entry of ``d_new_states`` may be None (no gradient).
        output_grads: time-major ``(T, N, units)`` gradients of the outputs.
        state_grads: gradients of the final states (entries may be None).
        caches: what :func:`rnn_loop` returned.
        mask, zero_output_for_mask: as given to :func:`rnn_loop`.

    Returns:
        ``(input_grads, initial_state_grads)``: the per-step input gradients,
        one time-major array ``(T, N, ...)``, and the gradients of the initial states.
    """
    input_grads = None
    dstates = list(state_grads)
    carried = None  # gradient reaching the previous step's output through a masked step
    for t in range(len(caches) - 1, -1, -1):
        dout = output_grads[t] if carried is None else output_grads[t] + carried
        if mask is not None:
            keep = mask[t][:, None]
            skip = ~keep
            carried = None if zero_output_for_mask or t == 0 else dout * skip
            dout = dout * keep
            held = [None if d is None else d * skip for d in dstates]
            dstates = [None if d is None else d * keep for d in dstates]
        dinput, dprev = step_backward(dout, dstates, caches[t])
        if input_grads is None:
            input_grads = _xp().empty((len(caches),) + dinput.shape, dtype=dinput.dtype)
        input_grads[t] = dinput
        if mask is not None:
            dprev = [h if p is None else (p if h is None else p + h) for p, h in zip(dprev, held)]
        dstates = dprev
    return input_grads, dstates


# ------------------------------------------------- single steps for students
def _step_math(math_class, units, kernel, recurrent_kernel, bias, activation, recurrent_activation, **kwargs):
    return math_class(units, kernel, recurrent_kernel, bias, activations.get(activation),
                      activations.get(recurrent_activation), **kwargs)


def _step_forward(math, x, states):
    xz = math.project(x[None])[0]
    out, new_states, cache = math.step(xz, states)
    return new_states, (math, x, cache)


def _step_backward(dstates, cache):
    math, x, step_cache = cache
    dxz, dprev = math.step_backward(_xp().zeros_like(dstates[0]), dstates, step_cache)
    dx, dkernel, dbias = math.project_backward(dxz[None], x[None])
    return dx[0], dprev, math.weight_gradients(dxz[None], dkernel, dbias)


def simple_rnn_step_forward(x, h_prev, kernel, recurrent_kernel, bias=None, activation="tanh"):
    """One SimpleRNN step: ``h = activation(x @ kernel + h_prev @ recurrent_kernel + bias)``.

    Args:
        x: ``(N, features)``; h_prev: ``(N, units)``.
        kernel: ``(features, units)``; recurrent_kernel: ``(units, units)``; bias: ``(units,)`` or None.

    Returns:
        ``(h, cache)``.
    """
    math = _step_math(SimpleRNNMath, recurrent_kernel.shape[0], kernel, recurrent_kernel, bias, activation, None)
    (h,), cache = _step_forward(math, x, [h_prev])
    return h, cache


def simple_rnn_step_backward(dh, cache):
    """Gradients of :func:`simple_rnn_step_forward`: ``(dx, dh_prev, dkernel, drecurrent_kernel, dbias)``."""
    dx, (dh_prev,), grads = _step_backward([dh], cache)
    return dx, dh_prev, grads["kernel"], grads["recurrent_kernel"], grads.get("bias")


def lstm_step_forward(x, h_prev, c_prev, kernel, recurrent_kernel, bias=None, activation="tanh",
                      recurrent_activation="sigmoid"):
    """One LSTM step with Keras's gate order i, f, c, o.

    Args:
        x: ``(N, features)``; h_prev, c_prev: ``(N, units)``.
        kernel: ``(features, 4*units)``; recurrent_kernel: ``(units, 4*units)``; bias: ``(4*units,)`` or None.

    Returns:
        ``(h, c, cache)``.
    """
    math = _step_math(LSTMMath, recurrent_kernel.shape[0], kernel, recurrent_kernel, bias, activation,
                      recurrent_activation)
    (h, c), cache = _step_forward(math, x, [h_prev, c_prev])
    return h, c, cache


def lstm_step_backward(dh, dc, cache):
    """Gradients of :func:`lstm_step_forward`: ``(dx, dh_prev, dc_prev, dkernel, drecurrent_kernel, dbias)``."""
    dx, (dh_prev, dc_prev), grads = _step_backward([dh, dc], cache)
    return dx, dh_prev, dc_prev, grads["kernel"], grads["recurrent_kernel"], grads.get("bias")


def gru_step_forward(x, h_prev, kernel, recurrent_kernel, bias=None, reset_after=True, activation="tanh",
                     recurrent_activation="sigmoid"):
    """One GRU step with Keras's gate order z, r, h.

    Args:
        x: ``(N, features)``; h_prev: ``(N, units)``.
        kernel: ``(features, 3*units)``; recurrent_kernel: ``(units, 3*units)``.
        bias: ``(2, 3*units)`` (input bias, recurrent bias) with ``reset_after=True``,
            ``(3*units,)`` with ``reset_after=False``, or None.

    Returns:
        ``(h, cache)``.
    """
    math = _step_math(GRUMath, recurrent_kernel.shape[0], kernel, recurrent_kernel, bias, activation,
                      recurrent_activation, reset_after=reset_after)
    (h,), cache = _step_forward(math, x, [h_prev])
    return h, cache


def gru_step_backward(dh, cache):
    """Gradients of :func:`gru_step_forward`: ``(dx, dh_prev, dkernel, drecurrent_kernel, dbias)``."""
    dx, (dh_prev,), grads = _step_backward([dh], cache)
    return dx, dh_prev, grads["kernel"], grads["recurrent_kernel"], grads.get("bias")
