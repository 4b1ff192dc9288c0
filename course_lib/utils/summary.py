"""``model.summary()``: the table Keras 3 prints, with the same layout rules.

The table is drawn with ``rich``, as Keras draws it, from the same inputs:
column positions ``[0.45, 0.80, 1.0]`` of the line for a model whose graph is a
chain (no "Connected to" column), ``[0.3, 0.56, 0.74, 1.0]`` for a branching
functional model; the line is ``line_length`` wide, by default 88 or 108
characters but at most the terminal's width less 4. Parameter counts end with
the optimizer's own variables once it has been built, counted in the total.
The text is the same as Keras's; the colours a terminal would show are left out.
"""
from __future__ import annotations

import collections
import math
import shutil

import rich.box
import rich.console
import rich.markup
import rich.table

from course_lib import saving


def _memory_size(variables):
    unique = {id(v): v for v in variables}.values()
    return sum(math.prod(v.shape) * v.dtype.itemsize for v in unique)


def _readable_size(num_bytes):
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if num_bytes / 1024 < 1:
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024
    return f"{num_bytes:.2f} PB"


def _is_chain(model):
    """Keras's test (``print_summary``): one node per depth, each with one input tensor, no shared layer."""
    from course_lib.models import Sequential, _depths

    if isinstance(model, Sequential) or getattr(model, "_traced", False):
        return True  # Keras draws a Sequential and a subclassed model without connections
    if any(len(node.inputs) > 1 for node in model._nodes):
        return False
    per_depth = collections.Counter(_depths(model._nodes)[0].values())
    per_layer = collections.Counter(id(node.layer) for node in model._nodes)
    return max(per_depth.values(), default=1) <= 1 and max(per_layer.values(), default=1) <= 1


def _shape_text(layer, model):
    nodes = [node for node in layer._inbound_nodes if id(node) in model._node_position] or layer._inbound_nodes
    if not nodes:
        return "?"
    outputs = nodes[-1].outputs  # Keras shows its last call's shapes
    shapes = [f"({', '.join(str(size) for size in tensor.shape)})" for tensor in outputs]
    return shapes[0] if len(shapes) == 1 else "[" + ", ".join(shapes) + "]"


def _connections(layer, model):
    parts = []
    for node in layer._inbound_nodes:
        if id(node) not in model._node_position:
            continue
        for tensor in node.inputs:
            source = tensor.node.layer
            parts.append(f"{source.name}[{source._inbound_nodes.index(tensor.node)}][{tensor.index}]")
    return ", ".join(parts) or "-"


def print_summary(model, print_fn=None, line_length=None):
    """Print ``model``'s summary table as Keras 3 does (see the module docstring)."""
    chain = _is_chain(model)
    if chain:
        default, positions = 88, [0.45, 0.80, 1.0]
        header, justify = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default, positions = 108, [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    line_length = line_length or min(default, shutil.get_terminal_size().columns - 4)
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError(f"summary: line_length={line_length} is too narrow to print the summary.")
        widths.append(width)
        current += width
    table = rich.table.Table(
        *[rich.table.Column(name, justify=side, width=width) for name, side, width in zip(header, justify, widths)],
        width=line_length, show_lines=True, box=rich.box.HEAVY_HEAD,
    )
    for layer in model.layers:  # Keras's order (a functional model's InputLayers included)
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{rich.markup.escape(layer.name)} ({type(layer).__name__})", _shape_text(layer, model), params]
        if not chain:
            row.append(_connections(layer, model))
        table.add_row(*row)

    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    optimizer = getattr(model, "optimizer", None)
    optimizer_built = bool(getattr(model, "compiled", False) and optimizer is not None and optimizer.built)
    optimizer_vars = saving.optimizer_variables(optimizer) if optimizer_built else []
    counts = [sum(math.prod(v.shape) for v in group) for group in (trainable, frozen, optimizer_vars)]
    sizes = [_memory_size(group) for group in (trainable, frozen, optimizer_vars)]
    console = rich.console.Console(highlight=False, force_terminal=False, color_system=None)
    console.begin_capture()
    console.print(f'Model: "{rich.markup.escape(model.name)}"')
    console.print(table)
    console.print(f" Total params: {sum(counts):,} ({_readable_size(sum(sizes))})")
    console.print(f" Trainable params: {counts[0]:,} ({_readable_size(sizes[0])})")
    console.print(f" Non-trainable params: {counts[1]:,} ({_readable_size(sizes[1])})")
    if optimizer_built:
        console.print(f" Optimizer params: {counts[2]:,} ({_readable_size(sizes[2])})")
    text = console.end_capture()
    (print_fn or print)(text.rstrip("\n"))
