"""A model's weights written in Keras 2's HDF5 layout: the layout of Keras's published ImageNet files.

course_lib reads that layout (``load_weights`` of a ``.h5``) but writes only Keras 3's ``.weights.h5``,
so the applications' unit tests make their stand-in "published" files with this.
"""
import h5py


def write_keras2_h5(model, path):
    """One group per layer (``layer_names``), each with its ``weight_names`` and one dataset per weight."""
    with h5py.File(path, "w") as handle:
        handle.attrs["layer_names"] = [layer.name.encode("utf8") for layer in model.layers]
        for layer in model.layers:
            group = handle.create_group(layer.name)
            names = [f"{layer.name}/{variable.name}:0" for variable in layer.weights]
            group.attrs["weight_names"] = [name.encode("utf8") for name in names]
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name, data=value)
