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
import re
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


def _layer_range(layers, layer_range):
    """Keras's ``[first, last + 1]`` of the layers whose names match ``layer_range``'s two patterns (re.match)."""
    if layer_range is None:
        return [0, len(layers)]
    if len(layer_range) != 2 or not all(isinstance(pattern, str) for pattern in layer_range):
        raise ValueError(f"summary: layer_range must be a list or tuple of two layer names (regular expressions "
                         f"matched from the start). Received: layer_range={layer_range!r}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"summary: layer_range={list(layer_range)!r} does not match the names of the model's "
                         f"layers {[layer.name for layer in layers]}")
    if min(lower) > max(upper):
        return [min(upper), max(lower) + 1]
    return [min(lower), max(upper) + 1]


def print_summary(model, print_fn=None, line_length=None, positions=None, expand_nested=False,
                  show_trainable=False, layer_range=None):
    """Print ``model``'s summary table as Keras 3 does (see the module docstring).

    ``positions`` (the columns' right edges, fractions of the line), ``expand_nested`` (the layers
    of a nested model under it, each prefixed by ``└``), ``show_trainable`` (a "Trainable"
    column: Y, N, or - for a layer without weights) and ``layer_range`` (two names, the first
    and last layer shown) are Keras's.
    """
    chain = _is_chain(model)
    if chain:
        default, positions = 88, positions or [0.45, 0.80, 1.0]
        header, justify = ["Layer (type)", "Output Shape", "Param #"], ["left", "left", "right"]
    else:
        default, positions = 108, positions or [0.3, 0.56, 0.74, 1.0]
        header = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        justify = ["left", "left", "right", "left"]
    if show_trainable:
        default += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        header, justify = header + ["Trainable"], justify + ["center"]
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

    def rows(layer, level=0):
        prefix = "   " * level + "└ " if level else ""
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{rich.markup.escape(prefix + layer.name)} ({type(layer).__name__})", _shape_text(layer, model),
               params]
        if not chain:
            row.append(_connections(layer, model))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        found = [row]
        if expand_nested and getattr(layer, "layers", None):
            for inner in layer.layers:
                found.extend(rows(inner, level + 1))
        return found

    shown = _layer_range(model.layers, layer_range)
    for layer in model.layers[shown[0]:shown[1]]:  # Keras's order (a functional model's InputLayers included)
        for row in rows(layer):
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
    if print_fn is None:
        print(text.rstrip("\n"))
    else:
        print_fn(text)  # as Keras: the captured text, its last line break included
