"""course_lib.utils.model_to_graph against Keras's own walk of the same model graph.

Keras's ``model_to_dot`` (keras/src/utils/model_visualization.py) needs pydot;
here a small stand-in records the nodes, labels and edges it creates, so the
real Keras code decides which boxes and arrows there are and what each box
says, and course_lib's graph of the same model must give the same.
"""
import re
import types

import matplotlib
import numpy as np
import pytest

import course_lib as cl

matplotlib.use("Agg")
tf = pytest.importorskip("tensorflow")
keras = tf.keras
from keras.src.utils import model_visualization  # noqa: E402

pytestmark = pytest.mark.parity


class _Recorder:
    """What model_to_dot asks of pydot: nodes with labels, edges, subgraphs."""

    def __init__(self, *args, **kwargs):
        self.nodes, self.edges, self.subgraphs = {}, [], []
        self.graph_name = kwargs.get("graph_name")

    def set(self, *args):
        pass

    def set_node_defaults(self, **kwargs):
        pass

    def add_node(self, node):
        self.nodes[node.name] = node.label

    def get_edge(self, source, destination):
        return [edge for edge in self.edges if edge == (source, destination)]

    def add_edge(self, edge):
        self.edges.append((edge.source, edge.destination))

    def add_subgraph(self, graph):
        self.subgraphs.append(graph)

    def all_nodes(self):
        nodes = dict(self.nodes)
        for graph in self.subgraphs:
            nodes.update(graph.all_nodes())
        return nodes

    def all_edges(self):
        return self.edges + [edge for graph in self.subgraphs for edge in graph.all_edges()]


class _Node:
    def __init__(self, name, label):
        self.name, self.label = name, label

    def set(self, *args):
        pass


class _Edge:
    def __init__(self, source, destination):
        self.source, self.destination = source, destination

    def set(self, *args):
        pass


@pytest.fixture
def keras_walk(monkeypatch):
    fake = types.SimpleNamespace(Dot=_Recorder, Cluster=_Recorder, Node=_Node, Edge=_Edge)
    monkeypatch.setattr(model_visualization, "pydot", fake)

    def walk(model, **options):
        dot = model_visualization.model_to_dot(model, **options)
        names = {}

        def collect(layer):
            names[str(id(layer))] = layer.name
            for inner in getattr(layer, "layers", []):
                collect(inner)

        collect(model)
        labels = {names[key]: _cells(label) for key, label in dot.all_nodes().items()}
        edges = [(names[source], names[destination]) for source, destination in dot.all_edges()]
        return labels, edges

    return walk


def _cells(html):
    """The texts of a Keras label's table cells, tags removed."""
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", html)]


def _ours(model, **options):
    graph = cl.utils.model_to_graph(model, **options)
    labels = {node.name: [node.title] + ([node.activation] if node.activation else []) + list(node.cells)
              for node in graph.nodes}
    return labels, graph.edge_names()


def build(k):
    """The same model in tf.keras or course_lib: two inputs, a shared Dense, an Add, two outputs,
    a nested Sequential and a nested functional model."""
    first, second = k.Input((4,), name="first"), k.Input((4,), name="second")
    shared = k.layers.Dense(8, activation="relu", name="shared")
    left, right = shared(first), shared(second)
    added = k.layers.Add(name="add")([left, right])
    tower = k.Sequential([k.Input((8,)), k.layers.Dense(6, activation="tanh", name="tower_a"),
                          k.layers.Dense(5, name="tower_b")], name="tower")
    inner_input = k.Input((8,), name="inner_input")
    inner = k.Model(inner_input, k.layers.Dense(3, activation="softmax", name="inner_dense")(inner_input),
                    name="inner")
    concatenated = k.layers.Concatenate(name="concatenate")([tower(added), right])
    frozen = k.layers.Dense(2, name="frozen")
    frozen.trainable = False
    return k.Model([first, second], [frozen(concatenated), inner(added)], name="two_heads")


def sequential(k):
    return k.Sequential([k.Input((5,)), k.layers.Dense(4, activation="relu", name="d1"),
                         k.layers.Dropout(0.1, name="drop"), k.layers.Dense(2, name="d2")], name="stack")


OPTIONS = [
    dict(),
    dict(show_shapes=True, show_layer_names=True),
    dict(show_shapes=True, show_dtype=True, show_layer_activations=True, show_trainable=True,
         show_layer_names=True),
]


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize("expand_nested", [False, True])
def test_functional_model_graph_and_labels_match_keras(keras_walk, options, expand_nested):
    keras_labels, keras_edges = keras_walk(build(keras), expand_nested=expand_nested, **options)
    our_labels, our_edges = _ours(build(cl), expand_nested=expand_nested, **options)
    assert sorted(our_edges) == sorted(keras_edges)
    assert len(our_edges) == len(set(our_edges))
    assert our_labels == keras_labels


@pytest.mark.parametrize("options", OPTIONS)
def test_sequential_graph_and_labels_match_keras(keras_walk, options):
    keras_labels, keras_edges = keras_walk(sequential(keras), **options)
    our_labels, our_edges = _ours(sequential(cl), **options)
    assert our_edges == keras_edges == [("d1", "drop"), ("drop", "d2")]
    assert our_labels == keras_labels


def test_a_layer_called_twice_on_the_same_tensor_gives_one_arrow_as_in_keras(keras_walk):
    def model(k):
        inputs = k.Input((3,), name="x")
        dense = k.layers.Dense(3, name="dense")
        once = dense(inputs)
        return k.Model(inputs, k.layers.Multiply(name="square")([once, once]))

    keras_labels, keras_edges = keras_walk(model(keras), show_shapes=True)
    our_labels, our_edges = _ours(model(cl), show_shapes=True)
    assert our_edges == keras_edges == [("x", "dense"), ("dense", "square")]
    assert our_labels == keras_labels


def test_a_shared_layer_shows_its_first_call_shapes_as_keras(keras_walk):
    def model(k):
        wide, narrow = k.Input((6,), name="wide"), k.Input((6,), name="narrow")
        shared = k.layers.Dense(2, name="shared")
        return k.Model([wide, narrow], [shared(wide), shared(narrow)])

    assert _ours(model(cl), show_shapes=True) == tuple(keras_walk(model(keras), show_shapes=True))


def test_the_drawing_of_the_parity_model_is_written(tmp_path):
    figure = cl.utils.plot_model(build(cl), to_file=tmp_path / "two_heads.png", show_shapes=True,
                                 expand_nested=True, dpi=60)
    assert (tmp_path / "two_heads.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert np.prod(figure.get_size_inches()) > 0
