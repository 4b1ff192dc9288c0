"""``plot_model``: a drawing of a model's graph, as ``keras.utils.plot_model`` makes, with matplotlib only.

Keras hands its graph to Graphviz (through pydot); course_lib lays it out
itself, in four steps anyone can follow, as Graphviz's dot does:

1. the graph (:func:`model_to_graph`): one box per layer, with the same text
   Keras writes in it, and an arrow for every connection of the model's own
   layer calls (``model._nodes``), the boxes and arrows that
   keras/src/utils/model_visualization.py makes;
2. the layers (ranks): longest path from the inputs, so every arrow points
   forward (down for ``rankdir="TB"``, right for ``"LR"``); an arrow that
   skips ranks gets a virtual node in each rank it crosses;
3. the order inside each rank: barycentre sweeps (each box moves towards the
   mean position of its neighbours in the rank before, then after), keeping
   the order with the fewest crossing arrows;
4. the positions across the ranks: each node pulled towards its neighbours as
   far as the order and the gaps allow, so that long arrows run straight.

The result is a :class:`matplotlib.figure.Figure`, saved to ``to_file`` and
returned, so that a notebook cell ending with ``plot_model(model)`` shows it
(Keras returns an ``IPython.display.Image`` of the saved file instead).
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

_RANKDIRS = ("TB", "LR", "BT", "RL")
_SPLINES = ("ortho", "curved", "polyline", "spline", "line")
_TITLE_SIZE, _CELL_SIZE = 10.0, 8.5  # font sizes in points
_PADDING = 6.0  # inside a box, around each text
_RANK_GAP, _BOX_GAP, _CLUSTER_MARGIN = 36.0, 18.0, 9.0
_VIRTUAL_WIDTH = 4.0  # across a rank, the room an arrow passing through it takes


class GraphNode(NamedTuple):
    """One box of the drawing.

    Attributes:
        key: its position in :attr:`ModelGraph.nodes`.
        layer: the layer (or nested model) it stands for.
        name: the layer's name.
        class_name: the class Keras writes (``Functional`` for a functional model).
        title: the header: ``"name (Class)"`` with ``show_layer_names``, else ``"Class"``.
        activation: ``"Activation: relu"`` or None.
        cells: the row under the header, as Keras writes it: ``"Input shape: (None, 4)"``,
            ``"Output shape: (None, 8)"``, ``"Output dtype: float32"``, ``"Trainable"``.
        cluster: names of the nested models around the box (``expand_nested``), outermost first.
    """

    key: int
    layer: object
    name: str
    class_name: str
    title: str
    activation: str | None
    cells: tuple
    cluster: tuple


class ModelGraph(NamedTuple):
    """What :func:`plot_model` draws: boxes, arrows ``(source key, destination key)`` and nested-model frames."""

    nodes: list
    edges: list
    clusters: list  # one tuple of model names (outermost first) per expanded nested model

    def edge_names(self):
        """The arrows as ``(source layer name, destination layer name)`` pairs."""
        return [(self.nodes[source].name, self.nodes[destination].name) for source, destination in self.edges]


# ---------------------------------------------------------------- the graph
def model_to_graph(model, show_shapes=False, show_dtype=False, show_layer_names=True, expand_nested=False,
                   show_layer_activations=False, show_trainable=False):
    """The boxes and arrows of ``model``'s drawing, as keras.utils.model_to_dot builds them.

    A Sequential model is drawn as its layers (no InputLayer box) joined in a
    chain; a functional model as every layer of ``model.layers`` (its InputLayers
    included) with an arrow from the layer that made each input tensor of each
    call (a shared layer is one box with the arrows of all its calls; two
    tensors between the same two layers make one arrow); a subclassed model as
    one box. A nested model is one box, or with ``expand_nested`` its own
    boxes inside a frame, the arrows going to its inner layers.

    Args:
        model: a built :class:`~course_lib.models.Model` or ``Sequential``.
        show_shapes, show_dtype, show_layer_names, expand_nested, show_layer_activations,
            show_trainable: as for :func:`plot_model`; ``show_layer_names`` is True by
            default here, as in Keras's model_to_dot (plot_model's default is False).

    Returns:
        A :class:`ModelGraph`.
    """
    _check_model(model, "model_to_graph")
    options = dict(show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                   show_layer_activations=show_layer_activations, show_trainable=show_trainable)
    builder = _GraphBuilder(options, bool(expand_nested))
    builder.add_model(model, ())
    return ModelGraph(builder.nodes, builder.edges, builder.clusters)


def _check_model(model, where):
    from course_lib.models import Model

    if not isinstance(model, Model):
        raise TypeError(
            f"{where}: expected a course_lib Model or Sequential. Received: {model!r} "
            f"(of type {type(model).__name__})"
        )
    if not model.built:
        raise ValueError(
            f"{where}: model '{model.name}' has not yet been built. Build the model first by calling "
            "`build()`, by giving it an Input, or by calling the model on a batch of data."
        )


def _is_graph_model(layer):
    """Keras's Functional or Sequential: a model whose graph can be drawn (a subclassed one cannot)."""
    from course_lib.models import Model

    return isinstance(layer, Model) and not layer._traced


def _class_name(layer):
    from course_lib.models import Model

    return "Functional" if type(layer) is Model else type(layer).__name__


def _structure_text(values):
    """Keras's text for one value or, for several, a list of them (``str`` of Python tuples)."""
    return str(values[0]) if len(values) == 1 else str(list(values))


def _shape(tensor):
    return tuple(None if size is None else int(size) for size in tensor.shape)


def _label(layer, show_shapes, show_dtype, show_layer_names, show_layer_activations, show_trainable):
    """Title, activation line and cells, with the text of keras's make_layer_label."""
    class_name = _class_name(layer)
    title = f"{layer.name} ({class_name})" if show_layer_names else class_name
    activation = None
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        function = layer.activation
        name = getattr(function, "name", None) or getattr(function, "__name__", None) or str(function)
        activation = f"Activation: {name}"
    # As Keras's layer.input / layer.output: the layer's first call.
    first = layer._inbound_nodes[0] if layer._inbound_nodes else None
    cells = []
    if show_shapes:
        if class_name != "InputLayer":
            shapes = "?" if first is None or not first.inputs else _structure_text([_shape(t) for t in first.inputs])
            cells.append(f"Input shape: {shapes}")
        shapes = "?" if first is None else _structure_text([_shape(t) for t in first.outputs])
        cells.append(f"Output shape: {shapes}")
    if show_dtype:
        dtypes = "?" if first is None else _structure_text([str(t.dtype) for t in first.outputs])
        cells.append(f"Output dtype: {dtypes}")
    if show_trainable and layer.weights:
        cells.append("Trainable" if layer.trainable else "Non-trainable")
    return class_name, title, activation, tuple(cells)


class _GraphBuilder:
    """Walks a model (and, with expand_nested, the models inside it) as model_to_dot does."""

    def __init__(self, options, expand_nested):
        self.options, self.expand_nested = options, expand_nested
        self.nodes, self.edges, self.clusters = [], [], []
        self._keys, self._edge_set = {}, set()

    def add_box(self, layer, cluster):
        if id(layer) in self._keys:  # a layer shared with a nested model is drawn once
            return
        class_name, title, activation, cells = _label(layer, **self.options)
        key = len(self.nodes)
        self._keys[id(layer)] = key
        self.nodes.append(GraphNode(key, layer, layer.name, class_name, title, activation, cells, cluster))

    def add_edge(self, source, destination):
        edge = (self._keys[id(source)], self._keys[id(destination)])
        if edge not in self._edge_set:
            self._edge_set.add(edge)
            self.edges.append(edge)

    def add_model(self, model, cluster):
        from course_lib.models import Sequential

        if not _is_graph_model(model):
            self.add_box(model, cluster)  # a subclassed model is one box, as in Keras
            return
        layers = model.layers
        for layer in layers:
            if self.expand_nested and _is_graph_model(layer):
                inner = cluster + (layer.name,)
                self.clusters.append(inner)
                self.add_model(layer, inner)
            else:
                self.add_box(layer, cluster)
        nodes = model._nodes  # this model's own layer calls (a shared layer's calls elsewhere are not)
        if isinstance(model, Sequential):
            if not self.expand_nested:
                for before, after in zip(layers[:-1], layers[1:]):
                    self.add_edge(before, after)
                return
            # The first layer's arrow comes from outside the Sequential (its InputLayer has no box).
            nodes = [node for node in nodes if node.layer is not layers[0]]
        for node in nodes:
            for input_index, tensor in enumerate(node.inputs):
                source, output_index, destination = tensor.node.layer, tensor.index, node.layer
                if self.expand_nested:
                    while _is_graph_model(source):  # the inner layer that made this output
                        produced = source.outputs[output_index]
                        source, output_index = produced.node.layer, produced.index
                    while _is_graph_model(destination):  # the inner layer that takes this input
                        destination = (destination.layers[0] if isinstance(destination, Sequential)
                                       else destination.inputs[input_index].node.layer)
                self.add_edge(source, destination)


# --------------------------------------------------------------- the layout
def _ranks(count, edges):
    """Longest-path layering: a box's rank is 1 + the largest rank among the boxes pointing to it."""
    rank = np.zeros(count, dtype=int)
    if not edges:
        return rank
    sources, destinations = np.array(edges).T
    for _ in range(count):  # at most count - 1 relaxations in a DAG
        proposed = rank.copy()
        np.maximum.at(proposed, destinations, rank[sources] + 1)
        if np.array_equal(proposed, rank):
            break
        rank = proposed
    return rank


def _crossings(position, rank, edges):
    """Pairs of arrows between the same two ranks whose ends come in opposite orders."""
    if len(edges) < 2:
        return 0
    sources, destinations = np.array(edges).T
    same_ranks = (rank[sources][:, None] == rank[sources][None, :]) & (
        rank[destinations][:, None] == rank[destinations][None, :])
    start = position[sources][:, None] - position[sources][None, :]
    end = position[destinations][:, None] - position[destinations][None, :]
    return int(np.sum(same_ranks & (start * end < 0)) // 2)


def _cluster_sort(members, key, clusters, depth=0):
    """``members`` sorted by ``key`` (tuples), keeping those of one nested-model frame next to each other."""
    units = {}
    for member in members:
        cluster = clusters[member]
        name = (member,) if len(cluster) <= depth else cluster[depth]
        units.setdefault(name, []).append(member)
    ordered = []
    for name, group in units.items():
        if isinstance(name, tuple):
            ordered.append((key[group[0]], group))
        else:  # a frame moves as one, to the mean key of the boxes inside it
            inner = _cluster_sort(group, key, clusters, depth + 1)
            ordered.append((tuple(np.mean([key[member] for member in group], axis=0)), inner))
    ordered.sort(key=lambda unit: unit[0])
    return [member for _, group in ordered for member in group]


def _order(count, rank, edges, sweeps=4, clusters=None):
    """Position of each box inside its rank, after barycentre sweeps down and up.

    ``clusters`` (one tuple of frame names per node) keeps the boxes of a nested model together in each rank.
    """
    clusters = clusters if clusters is not None else [()] * count
    position = np.zeros(count)

    def arrange(members, barycentre):
        # Ties keep the current order: a stable sort on (barycentre, current position).
        key = {member: (value, position[member]) for member, value in zip(members, barycentre)}
        position[_cluster_sort(list(members), key, clusters)] = np.arange(len(members))

    for level in np.unique(rank):
        members = np.flatnonzero(rank == level)
        arrange(members, np.arange(len(members), dtype=float))
    if not edges:
        return position
    adjacency = np.zeros((count, count))
    sources, destinations = np.array(edges).T
    adjacency[sources, destinations] = 1.0
    best, best_crossings = position.copy(), _crossings(position, rank, edges)
    for sweep in range(2 * sweeps):
        downward = sweep % 2 == 0
        neighbours = adjacency.T if downward else adjacency  # row v: v's predecessors (down) or successors (up)
        levels = np.unique(rank)
        for level in (levels[1:] if downward else levels[::-1][1:]):
            members = np.flatnonzero(rank == level)
            weights = neighbours[members]
            counts = weights.sum(axis=1)
            barycentre = np.where(counts > 0, weights @ position / np.maximum(counts, 1), position[members])
            arrange(members, barycentre)
        crossings = _crossings(position, rank, edges)
        if crossings < best_crossings:
            best, best_crossings = position.copy(), crossings
    return best


def _text_width(text, size, bold=False):
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import text_to_path

    properties = FontProperties(size=size, weight="bold" if bold else "normal")
    return text_to_path.get_text_width_height_descent(text, properties, ismath=False)[0]


def _box_size(node):
    """Width and height in points: header, activation line and the row of cells, each one text high."""
    cell_widths = [_text_width(cell, _CELL_SIZE, bold=True) + 2 * _PADDING for cell in node.cells]
    widths = [_text_width(node.title, _TITLE_SIZE, bold=True) + 2 * _PADDING, sum(cell_widths)]
    if node.activation:
        widths.append(_text_width(node.activation, _CELL_SIZE) + 2 * _PADDING)
    rows = [_TITLE_SIZE] + [_CELL_SIZE] * (bool(node.activation) + bool(node.cells))
    return max(widths), sum(size + 2 * _PADDING for size in rows), cell_widths


class _Placement(NamedTuple):
    """Where everything goes, in points: boxes (centres, widths, heights) and one route per arrow."""

    x: np.ndarray
    y: np.ndarray
    width: np.ndarray
    height: np.ndarray
    cell_widths: list
    routes: list  # per graph edge: the (x, y) points of its polyline, from the exit side to the entry side
    chains: list  # per graph edge: the boxes and virtual nodes it passes, in the expanded graph


def _with_virtual_nodes(count, rank, edges):
    """Graphviz dot's virtual nodes: an arrow spanning several ranks becomes a chain, one node per rank it skips.

    Returns the rank of every node (the ``count`` boxes first, then the virtual ones), the edges of the
    expanded graph (each joins two consecutive ranks) and, per original edge, the nodes of its chain.
    """
    ranks, expanded, chains = list(rank), [], []
    for source, destination in edges:
        chain = [source]
        for level in range(rank[source] + 1, rank[destination]):
            chain.append(len(ranks))
            ranks.append(level)
        chain.append(destination)
        expanded.extend(zip(chain[:-1], chain[1:]))
        chains.append(chain)
    return np.array(ranks, dtype=int), expanded, chains


def _isotonic(values, weights):
    """The nondecreasing sequence closest to ``values`` in weighted least squares (pool adjacent violators)."""
    blocks = []  # [mean, weight, length]
    for value, weight in zip(values, weights):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            value2, weight2, length2 = blocks.pop()
            value1, weight1, length1 = blocks[-1]
            blocks[-1] = [(value1 * weight1 + value2 * weight2) / (weight1 + weight2), weight1 + weight2,
                          length1 + length2]
    return np.concatenate([np.full(length, value) for value, _, length in blocks])


def _shared_frames(first, second):
    """How many nested-model frames (outermost first) two nodes' cluster tuples have in common."""
    shared = 0
    for outer, inner in zip(first, second):
        if outer != inner:
            break
        shared += 1
    return shared


def _frame_room(before, after, depth):
    """Extra room between two neighbours in a rank for the nested-model frames that end between them."""
    shared = _shared_frames(before, after)
    inset = _CLUSTER_MARGIN * (depth - shared) + _TITLE_SIZE * (depth - shared - 1)  # as _draw insets them
    return inset * ((len(before) > shared) + (len(after) > shared))


def _across(rank, position, extent, virtual, edges, clusters, sweeps=6):
    """Centres across the ranks: packed in order, then pulled towards their neighbours as dot's placement does.

    Each sweep moves the nodes of a rank towards the weighted mean of their neighbours in the rank before
    (down) or after (up), as close as the order and the gaps allow (a weighted isotonic regression). Edges
    between virtual nodes weigh most, so a long arrow runs straight (Graphviz weighs them 1, 2 and 8 too).
    """
    count = len(rank)
    levels = [np.flatnonzero(rank == level) for level in np.unique(rank)]
    levels = [members[np.argsort(position[members], kind="stable")] for members in levels]
    depth = max((len(cluster) for cluster in clusters), default=0)
    centre = np.zeros(count)
    gaps = []
    for members in levels:
        both_virtual = virtual[members[:-1]] & virtual[members[1:]]
        gap = (extent[members[:-1]] + extent[members[1:]]) / 2 + np.where(both_virtual, _BOX_GAP / 2, _BOX_GAP)
        gap += [_frame_room(clusters[a], clusters[b], depth) for a, b in zip(members[:-1], members[1:])]
        offsets = np.concatenate([[0.0], np.cumsum(gap)])
        centre[members] = offsets - (offsets[-1] if len(members) > 1 else 0.0) / 2
        gaps.append(offsets)
    if not edges:
        return centre
    weight = np.zeros((count, count))  # weight[a, b]: the edge a -> b
    for source, destination in edges:
        weight[source, destination] = {0: 1.0, 1: 2.0, 2: 8.0}[int(virtual[source]) + int(virtual[destination])]
    for sweep in range(2 * sweeps + 1):
        if sweep == 2 * sweeps:
            pull, order = weight + weight.T, range(len(levels))  # last: both sides at once
        elif sweep % 2 == 0:
            pull, order = weight.T, range(1, len(levels))  # row v: v's predecessors
        else:
            pull, order = weight, range(len(levels) - 2, -1, -1)  # row v: v's successors
        for index in order:
            members, offsets = levels[index], gaps[index]
            weights = pull[members]
            total = weights.sum(axis=1)
            wanted = np.where(total > 0, weights @ centre / np.maximum(total, 1e-12), centre[members])
            # Nodes without neighbours there stay where they are, lightly held.
            fitted = _isotonic(wanted - offsets, np.where(total > 0, total, 0.1))
            centre[members] = fitted + offsets
    return centre


def _place(graph, rankdir, splines="ortho"):
    """Box centres and sizes in points, and the route of every arrow, with virtual nodes on skipped ranks.

    The layout works in rank coordinates, ``along`` (rank after rank) and ``across`` (inside a rank), then
    turns them into x and y for ``rankdir``: down for TB, up for BT, right for LR, left for RL.
    """
    count = len(graph.nodes)
    rank = _ranks(count, graph.edges)
    ranks, expanded, chains = _with_virtual_nodes(count, rank, graph.edges)
    total = len(ranks)
    virtual = np.arange(total) >= count
    clusters = [node.cluster for node in graph.nodes]
    for (source, destination), chain in zip(graph.edges, chains):  # a virtual node sits in the shared frame
        shared = _shared_frames(clusters[source], clusters[destination])
        clusters.extend([clusters[source][:shared]] * (len(chain) - 2))
    position = _order(total, ranks, expanded, clusters=clusters)
    sizes = [_box_size(node) for node in graph.nodes]
    width = np.array([size[0] for size in sizes])
    height = np.array([size[1] for size in sizes])
    vertical = rankdir in ("TB", "BT")
    along_real, across_real = (height, width) if vertical else (width, height)
    along = np.concatenate([along_real, np.zeros(total - count)])
    extent = np.concatenate([across_real, np.full(total - count, _VIRTUAL_WIDTH)])
    band_start, band_end = {}, {}
    offset = 0.0
    for level in np.unique(ranks):
        thickness = along[ranks == level].max()
        band_start[level], band_end[level] = offset, offset + thickness
        offset += thickness + _RANK_GAP
    centre_along = np.array([(band_start[level] + band_end[level]) / 2 for level in ranks])
    centre_across = _across(ranks, position, extent, virtual, expanded, clusters)

    # Several arrows leaving (or entering) one box spread along its side, in the order of the next node.
    exits, entries = {}, {}
    for chain in chains:
        exits.setdefault(chain[0], []).append(chain[1])
        entries.setdefault(chain[-1], []).append(chain[-2])

    def anchor(box, other, table):
        ends = sorted(table[box], key=lambda key: (centre_across[key], key))
        fraction = (ends.index(other) + 1) / (len(ends) + 1)
        return centre_across[box] - extent[box] / 2 + fraction * extent[box]

    routes = []
    for chain in chains:
        source, destination = chain[0], chain[-1]
        start = (anchor(source, chain[1], exits), centre_along[source] + along[source] / 2)
        end = (anchor(destination, chain[-2], entries), centre_along[destination] - along[destination] / 2)
        levels = range(ranks[source], ranks[destination])
        if splines == "ortho":  # right angles, turning in the middle of each gap between ranks
            points, current = [start], start[0]
            for step, level in enumerate(levels):
                middle = (band_end[level] + band_start[level + 1]) / 2
                following = end[0] if step == len(levels) - 1 else centre_across[chain[step + 1]]
                points += [(current, middle), (following, middle)]
                current = following
            points.append(end)
        else:  # straight segments, vertical while inside a rank and slanting in the gaps
            points = [start, (start[0], band_end[ranks[source]])]
            for node in chain[1:-1]:
                across_node, level = centre_across[node], ranks[node]
                points += [(across_node, band_start[level]), (across_node, band_end[level])]
            points += [(end[0], band_start[ranks[destination]]), end]
        routes.append(_simplify(points))

    def screen(across_values, along_values):
        across_values, along_values = np.asarray(across_values, float), np.asarray(along_values, float)
        return {"TB": (across_values, -along_values), "BT": (across_values, along_values),
                "LR": (along_values, -across_values), "RL": (-along_values, -across_values)}[rankdir]

    x, y = screen(centre_across[:count], centre_along[:count])
    routes = [list(zip(*screen(*zip(*points)))) for points in routes]
    return _Placement(x, y, width, height, [size[2] for size in sizes], routes, chains)


def _simplify(points):
    """Drop repeated points and the middle one of three in a line, keeping the ends."""
    kept = [points[0]]
    for point in points[1:]:
        if np.hypot(point[0] - kept[-1][0], point[1] - kept[-1][1]) > 1e-9:
            kept.append(point)
    simple = [kept[0]]
    for middle, after in zip(kept[1:-1], kept[2:]):
        before = simple[-1]
        cross = (middle[0] - before[0]) * (after[1] - before[1]) - (middle[1] - before[1]) * (after[0] - before[0])
        if abs(cross) > 1e-9:
            simple.append(middle)
    return simple + kept[-1:] if len(kept) > 1 else kept


# -------------------------------------------------------------- the drawing
def _edge_path(points, rankdir, splines):
    """The matplotlib Path of one arrow: its polyline, or for curved splines smooth S-bends in the gaps."""
    from matplotlib.path import Path

    if splines not in ("curved", "spline"):
        return Path(points, [Path.MOVETO] + [Path.LINETO] * (len(points) - 1))
    vertical = rankdir in ("TB", "BT")
    vertices, codes = [points[0]], [Path.MOVETO]
    for (x1, y1), (x2, y2) in zip(points[:-1], points[1:]):
        if (x1 == x2) if vertical else (y1 == y2):
            vertices.append((x2, y2))
            codes.append(Path.LINETO)
        else:  # leaves and arrives along the ranks' direction; stays inside the gap (the control points do)
            middle = ((x1, (y1 + y2) / 2), (x2, (y1 + y2) / 2)) if vertical else (((x1 + x2) / 2, y1),
                                                                                  ((x1 + x2) / 2, y2))
            vertices += [*middle, (x2, y2)]
            codes += [Path.CURVE4] * 3
    return Path(vertices, codes)


def _draw(graph, rankdir, dpi, splines):
    from matplotlib.figure import Figure
    from matplotlib.patches import FancyArrowPatch, Rectangle

    placement = _place(graph, rankdir, splines)
    x, y, width, height, cell_widths = placement[:5]
    depth = max((len(node.cluster) for node in graph.nodes), default=0)
    margin = 12.0 + _CLUSTER_MARGIN * (depth + 1) + _TITLE_SIZE * depth
    route_x = [point[0] for route in placement.routes for point in route]
    route_y = [point[1] for route in placement.routes for point in route]
    left = min([(x - width / 2).min()] + route_x) - margin
    right = max([(x + width / 2).max()] + route_x) + margin
    bottom = min([(y - height / 2).min()] + route_y) - margin
    top = max([(y + height / 2).max()] + route_y) + margin
    figure = Figure(figsize=((right - left) / 72, (top - bottom) / 72), dpi=dpi)
    axes = figure.add_axes((0, 0, 1, 1))
    axes.set_xlim(left, right)
    axes.set_ylim(bottom, top)
    axes.set_axis_off()

    for cluster in sorted(graph.clusters, key=len):  # outer frames first, inner ones inside them
        members = [node.key for node in graph.nodes if node.cluster[:len(cluster)] == cluster]
        if not members:
            continue
        inset = _CLUSTER_MARGIN * (depth - len(cluster) + 1) + _TITLE_SIZE * (depth - len(cluster))
        x0 = (x[members] - width[members] / 2).min() - inset
        x1 = (x[members] + width[members] / 2).max() + inset
        y0 = (y[members] - height[members] / 2).min() - inset
        y1 = (y[members] + height[members] / 2).max() + inset + _TITLE_SIZE + 4
        axes.add_patch(Rectangle((x0, y0), x1 - x0, y1 - y0, fill=False, linestyle="--", linewidth=1.0,
                                 edgecolor="0.35"))
        axes.text(x0 + 4, y1 - 3, cluster[-1], ha="left", va="top", fontsize=_CELL_SIZE, color="0.25")

    for node in graph.nodes:
        _draw_box(axes, node, x[node.key], y[node.key], width[node.key], height[node.key], cell_widths[node.key])

    style = dict(arrowstyle="-|>", mutation_scale=10, linewidth=1.5, color="0.15", shrinkA=0, shrinkB=0)
    for route in placement.routes:  # one polyline per arrow, through the virtual nodes of the ranks it skips
        axes.add_patch(FancyArrowPatch(path=_edge_path(route, rankdir, splines), **style))
    return figure


def _draw_box(axes, node, x, y, width, height, cell_widths):
    """Keras's table: a black header with the title, a white activation row, then the cells side by side."""
    from matplotlib.patches import Rectangle

    top, left = y + height / 2, x - width / 2
    rows = [("title", _TITLE_SIZE)] + [("activation", _CELL_SIZE)] * bool(node.activation) + (
        [("cells", _CELL_SIZE)] if node.cells else [])
    for kind, size in rows:
        row_height = size + 2 * _PADDING
        bottom = top - row_height
        if kind == "title":
            axes.add_patch(Rectangle((left, bottom), width, row_height, facecolor="black", edgecolor="black"))
            axes.text(x, bottom + row_height / 2, node.title, ha="center", va="center", fontsize=size,
                      fontweight="bold", color="white")
        elif kind == "activation":
            axes.add_patch(Rectangle((left, bottom), width, row_height, facecolor="white", edgecolor="black"))
            axes.text(x, bottom + row_height / 2, node.activation, ha="center", va="center", fontsize=size)
        else:
            scale = width / sum(cell_widths)  # cells share the box's width in proportion to their text
            start = left
            for cell, cell_width in zip(node.cells, cell_widths):
                cell_width *= scale
                colour = {"Trainable": "forestgreen", "Non-trainable": "firebrick"}.get(cell, "white")
                axes.add_patch(Rectangle((start, bottom), cell_width, row_height, facecolor=colour,
                                         edgecolor="black"))
                axes.text(start + cell_width / 2, bottom + row_height / 2, cell, ha="center", va="center",
                          fontsize=size, fontweight="bold", color="black" if colour == "white" else "white")
                start += cell_width
        top = bottom


def plot_model(model, to_file="model.png", show_shapes=False, show_dtype=False, show_layer_names=False,
               rankdir="TB", expand_nested=False, dpi=200, show_layer_activations=False, show_trainable=False,
               splines="ortho", **kwargs):
    """Draw ``model``'s graph, save it to ``to_file`` and return the matplotlib Figure.

    The boxes and arrows are those of ``keras.utils.plot_model`` (see
    :func:`model_to_graph`); the layout is computed here, without Graphviz.

    Args:
        model: a built Model or Sequential.
        to_file: where to save the picture; the extension picks the format (``.png``,
            ``.svg``, ``.pdf``, or any other matplotlib writes); none means png, as in
            Keras. ``None`` saves nothing (course_lib only).
        show_shapes: write each layer's input and output shapes (of its first call, as Keras).
        show_dtype: write each layer's output dtype.
        show_layer_names: write ``name (Class)`` instead of the class alone. As in Keras 3,
            False by default.
        rankdir: ``"TB"`` draws top to bottom, ``"LR"`` left to right (and ``"BT"``,
            ``"RL"`` the other way, as Graphviz allows).
        expand_nested: draw the layers of nested models inside a dashed frame instead
            of one box per nested model.
        dpi: resolution of the saved picture (and of the Figure), dots per inch.
        show_layer_activations: write the activation of layers that have one.
        show_trainable: mark layers with weights "Trainable" (green) or "Non-trainable" (red).
        splines: ``"ortho"`` (right angles, the default), ``"line"``/``"polyline"``
            (straight) or ``"curved"``/``"spline"`` (arcs).

    Returns:
        The :class:`matplotlib.figure.Figure` (not attached to pyplot, so a notebook
        shows it once, as the cell's value). Keras returns an ``IPython.display.Image``.
    """
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("plot_model: argument `layer_range` is no longer supported (as in Keras 3).")
    if kwargs:
        raise ValueError(f"plot_model: unrecognized keyword arguments: {sorted(kwargs)}")
    if rankdir not in _RANKDIRS:
        raise ValueError(f"plot_model: rankdir must be one of {list(_RANKDIRS)}. Received: rankdir={rankdir!r}")
    if splines not in _SPLINES:
        raise ValueError(f"plot_model: splines must be one of {list(_SPLINES)}. Received: splines={splines!r}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not dpi > 0:
        raise ValueError(f"plot_model: dpi must be a positive number. Received: dpi={dpi!r}")
    _check_model(model, "plot_model")  # before model_to_graph's own check, so the error names plot_model
    graph = model_to_graph(model, show_shapes=show_shapes, show_dtype=show_dtype, show_layer_names=show_layer_names,
                           expand_nested=expand_nested, show_layer_activations=show_layer_activations,
                           show_trainable=show_trainable)
    figure = _draw(graph, rankdir, dpi, splines)
    if to_file is not None:
        to_file = os.fspath(to_file)
        extension = os.path.splitext(to_file)[1][1:].lower() or "png"
        supported = figure.canvas.get_supported_filetypes()
        if extension not in supported:
            raise ValueError(
                f"plot_model: cannot save a .{extension} file; the extension of to_file must be one of "
                f"{sorted(supported)}. Received: to_file={to_file!r}"
            )
        figure.savefig(to_file, format=extension, dpi=dpi)
    return figure
