"""``model.summary()``: Keras's table of layers, output shapes and parameter counts."""


def _readable_size(num_bytes):
    for unit in ("B", "KB", "MB", "GB"):
        if num_bytes < 1024 or unit == "GB":
            return f"{num_bytes:.2f} {unit}"
        num_bytes /= 1024


def _rows(model):
    """(layer name and type, output shape, params, connected-to) for each row."""
    rows = []
    if hasattr(model, "_layer_output_shapes"):
        for layer, shape in zip(model.layers, model._layer_output_shapes()):
            rows.append((f"{layer.name} ({type(layer).__name__})", str(shape), layer.count_params(), None))
        return rows
    for layer in model.layers:  # Keras's order; a shared layer is one row
        nodes = [node for node in model._nodes if node.layer is layer]
        sources = [
            f"{t.node.layer.name}[{_node_index(model, t.node)}][{t.index}]"
            for node in nodes for t in node.inputs
        ]
        rows.append((
            f"{layer.name} ({type(layer).__name__})",
            str(nodes[0].outputs[0].shape),
            layer.count_params(),
            ", ".join(sources) if sources else "-",
        ))
    return rows


def _node_index(model, node):
    return [n for n in model._nodes if n.layer is node.layer].index(node)


def print_summary(model, print_fn=None, line_length=None):
    """Print ``model``'s summary table with box-drawing characters, as Keras 3 does."""
    print_fn = print_fn or print
    rows = _rows(model)
    functional = rows and rows[0][3] is not None
    headers = ["Layer (type)", "Output Shape", "Param #"] + (["Connected to"] if functional else [])
    cells = [[r[0], r[1], f"{r[2]:,}"] + ([r[3]] if functional else []) for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) if cells else len(h) for i, h in enumerate(headers)]
    if line_length:
        widths[0] = max(widths[0], line_length - sum(widths[1:]) - 3 * len(widths) - 1)

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def row(values, align_right=(2,)):
        parts = [
            f" {v:>{w}} " if i in align_right else f" {v:<{w}} " for i, (v, w) in enumerate(zip(values, widths))
        ]
        return "│" + "│".join(parts) + "│"

    print_fn(f'Model: "{model.name}"')
    print_fn(line("┏", "┳", "┓", "━"))
    print_fn("┃" + "┃".join(f" {h:<{w}} " if i != 2 else f" {h:>{w}} " for i, (h, w) in enumerate(zip(headers, widths))) + "┃")
    print_fn(line("┡", "╇", "┩", "━"))
    for i, values in enumerate(cells):
        print_fn(row(values))
        print_fn(line("├", "┼", "┤", "─") if i < len(cells) - 1 else line("└", "┴", "┘", "─"))
    total = sum(w.size for w in model.weights)
    trainable = sum(w.size for w in model.trainable_weights)
    total_bytes = sum(w.nbytes for w in model.weights)
    trainable_bytes = sum(w.nbytes for w in model.trainable_weights)
    print_fn(f" Total params: {total:,} ({_readable_size(total_bytes)})")
    print_fn(f" Trainable params: {trainable:,} ({_readable_size(trainable_bytes)})")
    print_fn(f" Non-trainable params: {total - trainable:,} ({_readable_size(total_bytes - trainable_bytes)})")

