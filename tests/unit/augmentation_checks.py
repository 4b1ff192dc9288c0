"""Helpers shared by the augmentation layers' unit tests."""


def pinned(layer_class, transformation, **kwargs):
    """A ``layer_class`` whose every draw while training is ``transformation`` (what a gradient check needs)."""

    class Pinned(layer_class):
        def get_random_transformation(self, data, training=True, seed=None):
            return transformation if training else super().get_random_transformation(data, training, seed)

    Pinned.__name__ = layer_class.__name__
    return Pinned(**kwargs)
