"""course_lib.utils.plot_model and model_to_graph: boxes, arrows, labels, layout, files, errors.

The same graphs walked by Keras's own model_to_dot are compared in
``tests/parity/test_plot_model_parity.py``.
"""
import matplotlib
import numpy as np
import pytest

import importlib

import course_lib as cl
from course_lib import layers

# course_lib.utils.plot_model is the function (as keras.utils.plot_model); the module holds the layout helpers.
plot_module = importlib.import_module("course_lib.utils.plot_model")

matplotlib.use("Agg")


def sequential():
    return cl.Sequential([cl.Input((5,)), layers.Dense(4, activation="relu", name="d1"),
                          layers.Dropout(0.1, name="drop"), layers.Dense(2, name="d2")], name="stack")


def two_heads():
    """Two inputs through one shared Dense, an Add, two outputs."""
    first, second = cl.Input((4,), name="first"), cl.Input((4,), name="second")
    shared = layers.Dense(8, activation="relu", name="shared")
    left, right = shared(first), shared(second)
    added = layers.Add(name="add")([left, right])
    return cl.Model([first, second], [layers.Dense(1, name="score")(added),
                                      layers.Dense(3, activation="softmax", name="label")(right)])


def nested():
    inner = cl.Sequential([cl.Input((8,)), layers.Dense(6, name="inner_a"), layers.Dense(5, name="inner_b")],
                          name="inner")
    inputs = cl.Input((3,), name="x")
    hidden = layers.Dense(8, name="before")(inputs)
    return cl.Model(inputs, layers.Dense(1, name="after")(inner(hidden)), name="outer")


# -------------------------------------------------------------- the graph
def test_sequential_draws_its_layers_in_a_chain_without_the_input_layer():
    graph = cl.utils.model_to_graph(sequential())
    assert [node.name for node in graph.nodes] == ["d1", "drop", "d2"]
    assert graph.edge_names() == [("d1", "drop"), ("drop", "d2")]
    assert [node.title for node in graph.nodes] == ["d1 (Dense)", "drop (Dropout)", "d2 (Dense)"]


def test_two_inputs_a_shared_layer_and_an_add_give_an_arrow_per_connection():
    model = two_heads()
    graph = cl.utils.model_to_graph(model)
    assert [node.name for node in graph.nodes] == [layer.name for layer in model.layers]
    assert sorted(graph.edge_names()) == sorted([
        ("first", "shared"), ("second", "shared"),  # the shared layer: one box, one arrow per call
        ("shared", "add"),  # both Add inputs come from the shared box: one arrow, as Keras
        ("add", "score"), ("shared", "label"),
    ])
    assert [node.class_name for node in graph.nodes].count("InputLayer") == 2


def test_a_layer_with_inputs_from_several_layers_gets_one_arrow_from_each():
    a, b, c = (cl.Input((2,), name=name) for name in "abc")
    model = cl.Model([a, b, c], layers.Concatenate(name="joined")([a, layers.Dense(2, name="db")(b), c]))
    edges = cl.utils.model_to_graph(model).edge_names()
    assert sorted(edge for edge in edges if edge[1] == "joined") == [("a", "joined"), ("c", "joined"),
                                                                     ("db", "joined")]


def test_a_layer_also_called_in_another_model_gets_only_this_models_arrows():
    shared = layers.Dense(2, name="shared")
    a, b = cl.Input((2,), name="a"), cl.Input((2,), name="b")
    first = cl.Model(a, shared(a))
    cl.Model(b, shared(layers.Dense(2, name="other")(b)))  # a second call, in another model
    assert cl.utils.model_to_graph(first).edge_names() == [("a", "shared")]


def test_a_nested_model_is_one_box_unless_expanded():
    model = nested()
    graph = cl.utils.model_to_graph(model)
    assert graph.edge_names() == [("x", "before"), ("before", "inner"), ("inner", "after")]
    assert graph.nodes[2].class_name == "Sequential" and graph.clusters == []
    expanded = cl.utils.model_to_graph(model, expand_nested=True)
    assert sorted(expanded.edge_names()) == sorted([("x", "before"), ("before", "inner_a"),
                                                    ("inner_a", "inner_b"), ("inner_b", "after")])
    assert expanded.clusters == [("inner",)]
    assert {node.name: node.cluster for node in expanded.nodes}["inner_b"] == ("inner",)


def test_a_nested_functional_model_is_called_functional_and_expands_to_its_input_layer():
    inner_input = cl.Input((4,), name="inner_input")
    inner = cl.Model(inner_input, layers.Dense(2, name="inner_dense")(inner_input), name="inner")
    inputs = cl.Input((4,), name="x")
    model = cl.Model(inputs, inner(inputs))
    assert cl.utils.model_to_graph(model).nodes[1].title == "inner (Functional)"
    assert cl.utils.model_to_graph(model, expand_nested=True).edge_names() == [
        ("inner_input", "inner_dense"), ("x", "inner_input")]


def test_shapes_dtype_activation_and_trainable_text_match_the_model():
    model = two_heads()
    model.get_layer("score").trainable = False
    graph = cl.utils.model_to_graph(model, show_shapes=True, show_dtype=True, show_layer_activations=True,
                                    show_trainable=True)
    cells = {node.name: node.cells for node in graph.nodes}
    assert cells["first"] == ("Output shape: (None, 4)", "Output dtype: float32")
    assert cells["add"] == ("Input shape: [(None, 8), (None, 8)]", "Output shape: (None, 8)",
                            "Output dtype: float32")
    for name in ("score", "label"):
        layer = model.get_layer(name)
        assert cells[name][:2] == (f"Input shape: {layer.input.shape}", f"Output shape: {layer.output.shape}")
    assert cells["score"][-1] == "Non-trainable" and cells["label"][-1] == "Trainable"
    activations = {node.name: node.activation for node in graph.nodes}
    assert activations["shared"] == "Activation: relu" and activations["score"] == "Activation: linear"
    assert activations["add"] is None and activations["first"] is None
    # A shared layer shows its first call, as Keras's layer.input does.
    assert cells["shared"][0] == "Input shape: (None, 4)"


def test_plot_model_titles_are_class_names_unless_show_layer_names():
    figure = cl.utils.plot_model(sequential(), to_file=None)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert texts == ["Dense", "Dropout", "Dense"]
    figure = cl.utils.plot_model(sequential(), to_file=None, show_layer_names=True, show_shapes=True)
    texts = [text.get_text() for text in figure.axes[0].texts]
    assert "d1 (Dense)" in texts and "Output shape: (None, 4)" in texts


# -------------------------------------------------------------- the layout
def test_longest_path_ranks_and_crossing_reduction():
    # 0 -> 1 -> 2 and 0 -> 2: box 2 goes one rank below box 1.
    np.testing.assert_array_equal(plot_module._ranks(3, [(0, 1), (1, 2), (0, 2)]), [0, 1, 2])
    # Ranks [0, 0, 1, 1] with edges 0 -> 3 and 1 -> 2 cross in the given order; the sweep uncrosses them.
    rank = np.array([0, 0, 1, 1])
    edges = [(0, 3), (1, 2)]
    assert plot_module._crossings(np.array([0.0, 1, 0, 1]), rank, edges) == 1
    assert plot_module._crossings(plot_module._order(4, rank, edges), rank, edges) == 0


@pytest.mark.parametrize("rankdir", ["TB", "LR", "BT", "RL"])
def test_every_arrow_points_along_rankdir(rankdir):
    graph = cl.utils.model_to_graph(two_heads(), show_shapes=True)
    placement = plot_module._place(graph, rankdir)
    x, y, width, height = placement.x, placement.y, placement.width, placement.height
    step = {"TB": -y, "BT": y, "LR": x, "RL": -x}[rankdir]
    assert all(step[destination] > step[source] for source, destination in graph.edges)
    # No two boxes overlap.
    for a in range(len(x)):
        for b in range(a + 1, len(x)):
            assert abs(x[a] - x[b]) >= (width[a] + width[b]) / 2 or abs(y[a] - y[b]) >= (height[a] + height[b]) / 2


def test_rankdir_lr_swaps_the_axes_of_the_figure():
    graph = cl.utils.model_to_graph(sequential(), show_shapes=True)
    column, row = plot_module._place(graph, "TB"), plot_module._place(graph, "LR")
    assert np.ptp(column.x) == 0 and np.all(np.diff(column.y) < 0)  # a column, top to bottom
    assert np.ptp(row.y) == 0 and np.all(np.diff(row.x) > 0)  # a row, left to right
    tall = cl.utils.plot_model(sequential(), to_file=None, show_shapes=True).get_size_inches()
    wide = cl.utils.plot_model(sequential(), to_file=None, show_shapes=True, rankdir="LR").get_size_inches()
    assert wide[0] > tall[0] and tall[1] > wide[1]


def skip_and_two_heads():
    """Chapter 6's two-output model: the arrow dense -> add skips dense_1's rank."""
    pixels = cl.Input(shape=(64,), name="pixels")
    first = layers.Dense(32, activation="relu", name="dense")(pixels)
    second = layers.Dense(32, activation="relu", name="dense_1")(first)
    added = layers.Add(name="add")([first, second])
    return cl.Model(pixels, [layers.Dense(10, name="digit")(added), layers.Dense(1, name="odd")(added)])


def resnet_like(blocks=3):
    """A stack of residual blocks: each Add takes the block's input, two ranks back."""
    inputs = cl.Input((8,), name="x")
    hidden = layers.Dense(8, name="stem")(inputs)
    for block in range(blocks):
        branch = layers.Dense(8, activation="relu", name=f"b{block}_a")(hidden)
        branch = layers.Dense(8, name=f"b{block}_b")(branch)
        hidden = layers.Add(name=f"b{block}_add")([hidden, branch])
    return cl.Model(inputs, layers.Dense(2, name="head")(hidden))


def skip_around_a_nested_model():
    """expand_nested: the skip passes the two ranks of the nested Sequential's frame."""
    inner = cl.Sequential([cl.Input((8,)), layers.Dense(8, name="inner_a"), layers.Dense(8, name="inner_b")],
                          name="inner")
    inputs = cl.Input((8,), name="x")
    hidden = layers.Dense(8, name="before")(inputs)
    return cl.Model(inputs, layers.Add(name="add")([hidden, inner(hidden)]), name="outer")


def _segment_enters_box(start, end, box, margin=0.5):
    """Whether the segment start-end reaches inside the rectangle (x0, y0, x1, y1) shrunk by ``margin``."""
    x0, y0, x1, y1 = box[0] + margin, box[1] + margin, box[2] - margin, box[3] - margin
    (ax, ay), (bx, by) = start, end
    low, high = 0.0, 1.0  # Liang-Barsky: clip the parameter range of the segment to the rectangle
    for delta, distance in ((ax - bx, ax - x0), (bx - ax, x1 - ax), (ay - by, ay - y0), (by - ay, y1 - ay)):
        if delta == 0:
            if distance < 0:
                return False
            continue
        ratio = distance / delta
        if delta < 0:
            low = max(low, ratio)
        else:
            high = min(high, ratio)
        if low > high:
            return False
    return True


def test_segment_test_helper():
    box = (0.0, 0.0, 10.0, 10.0)
    assert _segment_enters_box((-5, 5), (15, 5), box)  # straight through
    assert not _segment_enters_box((-5, 11), (15, 11), box)  # above it
    assert not _segment_enters_box((5, 10), (5, 20), box)  # leaving from its top side
    assert _segment_enters_box((-5, -4), (6, 7), box)  # a slanting one clipping a corner
    assert not _segment_enters_box((-5, 6), (4, 15), box)  # a slanting one passing the corner


@pytest.mark.parametrize("build, rankdir, splines, expand_nested", [
    (skip_and_two_heads, "TB", "ortho", False), (skip_and_two_heads, "TB", "line", False),
    (skip_and_two_heads, "LR", "ortho", False), (skip_and_two_heads, "RL", "polyline", False),
    (resnet_like, "TB", "ortho", False), (resnet_like, "LR", "ortho", False), (resnet_like, "BT", "line", False),
    (resnet_like, "LR", "polyline", False), (skip_around_a_nested_model, "TB", "ortho", True),
    (skip_around_a_nested_model, "LR", "line", True), (two_heads, "TB", "ortho", False),
])
def test_no_arrow_passes_through_a_box_it_does_not_end_at(build, rankdir, splines, expand_nested):
    graph = cl.utils.model_to_graph(build(), show_shapes=True, show_layer_activations=True,
                                    expand_nested=expand_nested)
    placement = plot_module._place(graph, rankdir, splines)
    boxes = [(x - w / 2, y - h / 2, x + w / 2, y + h / 2) for x, y, w, h in
             zip(placement.x, placement.y, placement.width, placement.height)]
    assert len(placement.routes) == len(graph.edges)
    skips = sum(len(chain) > 2 for chain in placement.chains)
    assert skips == {skip_and_two_heads: 1, resnet_like: 3, skip_around_a_nested_model: 1, two_heads: 0}[build]
    for (source, destination), route in zip(graph.edges, placement.routes):
        for start, end in zip(route[:-1], route[1:]):
            if splines == "ortho":
                assert min(abs(start[0] - end[0]), abs(start[1] - end[1])) < 1e-6  # right angles only
            for key, box in enumerate(boxes):
                if key not in (source, destination):
                    assert not _segment_enters_box(start, end, box), (
                        f"{graph.nodes[source].name} -> {graph.nodes[destination].name} crosses "
                        f"{graph.nodes[key].name}")
        # The arrow leaves its source's side and ends on its destination's side.
        for point, key in ((route[0], source), (route[-1], destination)):
            x0, y0, x1, y1 = boxes[key]
            assert x0 - 1e-6 <= point[0] <= x1 + 1e-6 and y0 - 1e-6 <= point[1] <= y1 + 1e-6
    # Virtual nodes are a layout detail: the graph keeps its boxes and arrows.
    assert len(graph.nodes) == len(placement.x)


# --------------------------------------------------------------- the files
def test_the_png_is_written_and_the_figure_returned(tmp_path):
    import matplotlib.figure
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    path = tmp_path / "model.png"
    figure = cl.utils.plot_model(two_heads(), to_file=path, show_shapes=True, dpi=50)
    assert isinstance(figure, matplotlib.figure.Figure)
    assert plt.get_fignums() == before  # not attached to pyplot: a notebook shows it once
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    expected = figure.get_size_inches() * 50
    assert abs(width - expected[0]) <= 2 and abs(height - expected[1]) <= 2


def test_svg_pdf_and_no_extension(tmp_path):
    model = nested()
    cl.utils.plot_model(model, to_file=tmp_path / "model.svg", expand_nested=True)
    assert b"<svg" in (tmp_path / "model.svg").read_bytes()[:400]
    cl.utils.plot_model(model, to_file=str(tmp_path / "model.pdf"))
    assert (tmp_path / "model.pdf").read_bytes()[:5] == b"%PDF-"
    cl.utils.plot_model(model, to_file=tmp_path / "model", dpi=30)  # no extension: png, as Keras
    assert (tmp_path / "model").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("splines", ["ortho", "line", "curved"])
def test_every_edge_is_drawn_as_an_arrow(splines):
    from matplotlib.patches import FancyArrowPatch

    model = two_heads()
    figure = cl.utils.plot_model(model, to_file=None, splines=splines)
    arrows = [patch for patch in figure.axes[0].patches if isinstance(patch, FancyArrowPatch)]
    assert len(arrows) == len(cl.utils.model_to_graph(model).edges) == 5


# --------------------------------------------------------------- errors
def test_bad_arguments_get_errors_naming_plot_model(tmp_path):
    model = sequential()
    with pytest.raises(ValueError, match=r"plot_model: rankdir must be one of \['TB', 'LR', 'BT', 'RL'\]. "
                                         r"Received: rankdir='left'"):
        cl.utils.plot_model(model, to_file=None, rankdir="left")
    with pytest.raises(ValueError, match=r"plot_model: model 'unbuilt' has not yet been built"):
        cl.utils.plot_model(cl.Sequential([layers.Dense(2)], name="unbuilt"), to_file=None)
    with pytest.raises(TypeError, match=r"plot_model: expected a course_lib Model or Sequential. Received: .*Dense"):
        cl.utils.plot_model(layers.Dense(2), to_file=None)
    with pytest.raises(ValueError, match=r"plot_model: cannot save a .docx file.*'png'"):
        cl.utils.plot_model(model, to_file=tmp_path / "model.docx")
    with pytest.raises(ValueError, match=r"plot_model: argument `layer_range` is no longer supported"):
        cl.utils.plot_model(model, to_file=None, layer_range=["d1", "d2"])
    with pytest.raises(ValueError, match=r"plot_model: unrecognized keyword arguments: \['colour'\]"):
        cl.utils.plot_model(model, to_file=None, colour="red")
    with pytest.raises(ValueError, match=r"plot_model: dpi must be a positive number. Received: dpi=0"):
        cl.utils.plot_model(model, to_file=None, dpi=0)
    with pytest.raises(ValueError, match=r"plot_model: splines must be one of"):
        cl.utils.plot_model(model, to_file=None, splines="zigzag")
    with pytest.raises(ValueError, match=r"model_to_graph: model 'unbuilt2' has not yet been built"):
        cl.utils.model_to_graph(cl.Sequential(name="unbuilt2"))


def test_a_subclassed_model_is_one_box_as_in_keras():
    class Tiny(cl.Model):
        def __init__(self):
            super().__init__()
            self.dense = layers.Dense(2)

        def call(self, inputs):
            return self.dense(inputs)

    model = Tiny()
    model.build((None, 3))
    graph = cl.utils.model_to_graph(model)
    assert [node.title for node in graph.nodes] == [f"{model.name} (Tiny)"] and graph.edges == []
    cl.utils.plot_model(model, to_file=None)
