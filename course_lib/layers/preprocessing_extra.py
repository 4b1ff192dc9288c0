"""The last Keras 3 image augmentation layers (其余图像增强层), with Keras 3.15's behaviour.

Geometry: :class:`RandomPerspective` (the four corners moved at random, a
projective warp). Policies that compose the other augmentation layers, as
Keras composes its own: :class:`RandAugment` (a few operations picked at
random for the batch) and :class:`AugMix` (chains of operations, mixed).

They follow :mod:`course_lib.layers.preprocessing`: ``get_random_transformation``
draws what the layer will do (Keras's dict keys, shapes and dtypes) and
``transform_images`` applies it, so a test gives Keras's draw to both
libraries. RandAugment's and AugMix's draws hold their sub-layers' draws
(Keras's do too: nothing is drawn inside ``transform_images``), so Keras's
whole transformation pins every sub-layer.

At inference, as in Keras, all three only cast the images to the layer's float type.

Gradients (with respect to the images): RandomPerspective's warp is a linear
map of the pixels whose exact adjoint :mod:`course_lib.ops.image` computes
(TensorFlow registers an approximation of it, see there). RandAugment and
AugMix go back through the operations they applied, in reverse order;
an operation that rounds (RandomPosterization) passes no gradient in
TensorFlow, and Keras's ``where`` (RandAugment) or sum (AugMix) then gives
the images upstream of it a zero gradient along that path: so do these
layers (TensorFlow's tape gives the same numbers). Equalization passes
TensorFlow's gradient (zero through its lookup table).
"""
from __future__ import annotations

from course_lib import backend
from course_lib.layers.preprocessing import (
    RandomBrightness, RandomContrast, RandomRotation, RandomTranslation, _check_choice, _host, _is_number,
    _RandomLayer, _range_factor,
)
from course_lib.layers.preprocessing_more import (
    AutoContrast, RandomPosterization, RandomSharpness, RandomShear, Solarization, _batched, _clip_with_mask,
    _unbatched,
)
from course_lib.layers.preprocessing_newer import Equalization, RandomColorDegeneration
from course_lib.ops.image import AFFINE_INTERPOLATIONS, affine_transform_backward, affine_transform_forward


# ---------------------------------------------------------------- perspective
def homography_transforms(start_points, end_points):
    """The ``[a0, a1, a2, b0, b1, b2, c0, c1]`` rows taking each ``end_points`` corner to its ``start_points`` one.

    ``keras.ops.image.compute_homography_matrix`` (TensorFlow backend): the 8x8
    linear system of the four point pairs, solved in float32. The row maps
    OUTPUT pixels (where the corners go) to the input points they read.

    Args:
        start_points, end_points: ``(N, 4, 2)`` (or ``(4, 2)``) corners ``(x, y)``.

    Returns:
        ``(N, 8)`` float32.
    """
    xp = backend.xp
    start = xp.asarray(start_points, dtype="float32").reshape(-1, 4, 2)
    end = xp.asarray(end_points, dtype="float32").reshape(-1, 4, 2)
    end_x, end_y = end[:, :, 0], end[:, :, 1]
    start_x, start_y = start[:, :, 0], start[:, :, 1]
    zeros, ones = xp.zeros_like(end_x), xp.ones_like(end_x)
    row_x = xp.stack([end_x, end_y, ones, zeros, zeros, zeros, -start_x * end_x, -start_x * end_y], axis=-1)
    row_y = xp.stack([zeros, zeros, zeros, end_x, end_y, ones, -start_y * end_x, -start_y * end_y], axis=-1)
    # Rows in Keras's order: x1, y1, x2, y2, ... (each corner's two equations together).
    matrix = xp.stack([row_x, row_y], axis=2).reshape(-1, 8, 8)
    target = xp.stack([start_x, start_y], axis=-1).reshape(-1, 8, 1)
    return xp.linalg.solve(matrix, target).reshape(-1, 8).astype("float32")


class RandomPerspective(_RandomLayer):
    """Randomly distorts the perspective of images while training (随机透视变换).

    Per image, each corner ``p`` (of ``(0, 0)``, ``(W-1, 0)``, ``(0, H-1)``,
    ``(W-1, H-1)``) moves to ``p + p * d``, ``d`` uniform in
    ``[-scale / 2, scale / 2]`` for each coordinate (so the top-left corner
    never moves, Keras 3.15's rule), and the image is warped by the
    homography taking the new corners back to the old ones (``fill_value``
    outside, ``"constant"`` filling). An image is warped with a probability
    drawn in ``factor``'s range.

    Args:
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair ``(lower, upper)``:
            the probability of warping an image. 1.0 by default.
        scale: a number in ``[0, 1]``, the size of the corners' moves. 1.0 by default.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        fill_value: the value outside the image.
        seed: int seed of the layer's draws.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type (at inference too).
    Gradient: exact (the warp's adjoint).
    """

    def __init__(self, factor=1.0, scale=1.0, interpolation="bilinear", fill_value=0.0, seed=None, data_format=None,
                 **kwargs):
        self.factor = _range_factor("RandomPerspective", factor, (0, 1))
        if not _is_number(scale) or isinstance(scale, bool) or not 0.0 <= scale <= 1.0:
            raise ValueError(
                f"RandomPerspective: scale must be a number in the range [0, 1]. Received: scale={scale!r}"
            )
        _check_choice("RandomPerspective", "interpolation", interpolation, AFFINE_INTERPOLATIONS)
        backend.check_real("RandomPerspective", "fill_value", fill_value)
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.scale = scale
        self.interpolation = interpolation
        self.fill_value = fill_value

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"apply_perspective": bool (N,), "start_points", "end_points", "input_shape"}``; None at inference.

        The points are ``(N, 4, 2)`` corners ``(x, y)`` in the layer's float type (N is 1 for one image).
        """
        if not training:
            return None
        xp = backend.xp
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(xp.shape(images))
        self._check_images(shape)
        batch = self._batch_size(shape)
        height, width = self._image_size(shape)
        generator = self._generator(seed)
        probability = self._uniform((batch,), self.factor[0], self.factor[1], generator, dtype="float32")
        threshold = self._uniform((batch,), 0.0, 1.0, generator, dtype="float32")
        moves = self._uniform((batch, 4, 2), -0.5 * self.scale, 0.5 * self.scale, generator)
        corners = xp.asarray([[0.0, 0.0], [width - 1, 0.0], [0.0, height - 1], [width - 1, height - 1]],
                             dtype=self.dtype)
        start = xp.repeat(corners[None], batch, axis=0)
        return {"apply_perspective": threshold < probability, "start_points": start,
                "end_points": start + start * moves, "input_shape": shape}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        x, unbatched = _batched(images)
        transforms = homography_transforms(_host(transformation["start_points"]), _host(transformation["end_points"]))
        warped, cache = affine_transform_forward(x, transforms, self.interpolation, "constant", self.fill_value,
                                                 self.data_format)
        apply = _host(transformation["apply_perspective"]).astype(bool).reshape(-1, 1, 1, 1)
        return _unbatched(xp.where(apply, warped, x), unbatched), (cache, apply, unbatched)

    def backward(self, output_grads, cache):
        xp = backend.xp
        dy = xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        inner, apply, unbatched = cache
        g = dy[None] if unbatched else dy
        dx = xp.where(apply, affine_transform_backward(g, inner), g)
        return _unbatched(dx.astype(g.dtype, copy=False), unbatched), {}

    def get_config(self):
        config = super().get_config()
        config.update(factor=self.factor, scale=self.scale, interpolation=self.interpolation,
                      fill_value=self.fill_value, seed=self.seed)
        return config


# ------------------------------------------------------------------ policies
def _augmentation_layers(names, factor, value_range, interpolation, seed, data_format, dtype):
    """Keras's sub-layers of RandAugment and AugMix, by Keras's attribute names, made as Keras makes them."""
    common = {"seed": seed, "data_format": data_format, "dtype": dtype}
    makers = {
        "random_shear": lambda: RandomShear(x_factor=factor, y_factor=factor, interpolation=interpolation, **common),
        "random_translation": lambda: RandomTranslation(height_factor=factor, width_factor=factor,
                                                        interpolation=interpolation, **common),
        "random_rotation": lambda: RandomRotation(factor=factor, interpolation=interpolation, **common),
        "random_brightness": lambda: RandomBrightness(factor=factor, value_range=value_range, **common),
        "random_color_degeneration": lambda: RandomColorDegeneration(factor=factor, value_range=value_range,
                                                                     **common),
        "random_contrast": lambda: RandomContrast(factor=factor, value_range=value_range, **common),
        "random_sharpness": lambda: RandomSharpness(factor=factor, value_range=value_range, **common),
        "random_posterization": lambda: RandomPosterization(factor=max(1, int(8 * factor[1])),
                                                            value_range=value_range, **common),
        "solarization": lambda: Solarization(addition_factor=factor, threshold_factor=factor,
                                             value_range=value_range, **common),
        "auto_contrast": lambda: AutoContrast(value_range=value_range, data_format=data_format, dtype=dtype),
        "equalization": lambda: Equalization(value_range=value_range, data_format=data_format, dtype=dtype),
    }
    return {name: makers[name]() for name in names}


def _check_count(where, argument, value, lowest):
    if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
        raise ValueError(f"{where}: {argument} must be an int of at least {lowest}. Received: {argument}={value!r}")
    return value


def _chain_backward(steps, output_grads):
    """The gradient back through ``[(layer, cache), ...]`` applied in order; None where one passes none.

    A layer without a gradient (RandomPosterization) cuts the path, as
    TensorFlow's tape does (its rounding has no registered gradient).
    """
    dy = output_grads
    for layer, inner in reversed(steps):
        if inner is not None and not layer.differentiable:
            return None
        dy = layer.backward(dy, inner)[0]
    return dy


class _PolicyLayer(_RandomLayer):
    """RandAugment and AugMix: Keras's augmentation sub-layers, each drawing with the policy's generator."""

    _NAMES = ()

    def _make_layers(self, names):
        self._layers = _augmentation_layers(names, self.factor, self.value_range, self.interpolation, self.seed,
                                            self.data_format, self.dtype)

    @property
    def augmentation_layers(self):
        """The sub-layers by Keras's attribute names (``random_shear``, ..., ``equalization``)."""
        return dict(self._layers)

    def _images_shape(self, data):
        images = data["images"] if isinstance(data, dict) else data
        shape = tuple(backend.xp.shape(images))
        self._check_images(shape)
        return images


class RandAugment(_PolicyLayer):
    """Applies ``num_ops`` augmentations picked at random to a batch while training (RandAugment 随机增强).

    Keras 3.15's policy: the eleven operations are :class:`RandomShear`,
    :class:`RandomTranslation`, :class:`RandomRotation`,
    :class:`RandomBrightness`, :class:`RandomColorDegeneration`,
    :class:`RandomContrast`, :class:`RandomSharpness`,
    :class:`RandomPosterization`, :class:`Solarization`, :class:`AutoContrast`
    and :class:`Equalization`, each made from ``factor`` (``(lower, upper)``,
    so with ``0.5`` the shifts, rotations and brightness changes are all
    positive, as in Keras), with ``value_range``, ``interpolation``, ``seed``
    and ``data_format``; posterization keeps ``max(1, int(8 * upper))`` bits
    at most. Each draw picks ``num_ops`` indices (repeats allowed) for the
    WHOLE batch and draws every operation's own transformation; the images
    then go through the picked operations in order.

    Args:
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        num_ops: how many operations to apply in turn, 2 by default.
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair: the strength. 0.5 by default.
        interpolation: ``"bilinear"`` (default) or ``"nearest"``, for the warps.
        seed: int seed, of the layer's draws and of every sub-layer.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type (at inference too).
    Gradient: back through the picked operations (zero upstream of a posterization, as TensorFlow gives).
    """

    _NAMES = ("random_shear", "random_translation", "random_rotation", "random_brightness",
              "random_color_degeneration", "random_contrast", "random_sharpness", "random_posterization",
              "solarization", "auto_contrast", "equalization")

    def __init__(self, value_range=(0, 255), num_ops=2, factor=0.5, interpolation="bilinear", seed=None,
                 data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_ops = _check_count("RandAugment", "num_ops", num_ops, 0)
        self.factor = _range_factor("RandAugment", factor, (0, 1))
        self.interpolation = interpolation
        self._make_layers(self._NAMES)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"transforms": {name: that sub-layer's draw}, "layer_idxes": int32 (num_ops,)}``; None at inference."""
        if not training:
            return None
        images = self._images_shape(data)
        generator = self._generator(seed)
        indices = backend.xp.asarray(generator.integers(0, len(self._NAMES), size=(self.num_ops,)), dtype="int32")
        transforms = {name: layer.get_random_transformation(images, training=True, seed=generator)
                      for name, layer in self._layers.items()}
        return {"transforms": transforms, "layer_idxes": indices}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        transforms = transformation["transforms"]
        names = list(transforms)  # Keras picks by position in its dict of draws
        indices = backend.to_numpy(_host(transformation["layer_idxes"])).tolist()
        x = images.astype(self.dtype, copy=False)
        steps = []
        for index in indices[:self.num_ops]:
            layer = self._layers[names[int(index)]]
            x, cache = layer._transform(x, transforms[names[int(index)]], True)
            steps.append((layer, cache))
        return x.astype(self.dtype, copy=False), steps

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        dx = _chain_backward(cache, dy)
        return (backend.xp.zeros_like(dy) if dx is None else dx), {}

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, num_ops=self.num_ops, factor=self.factor,
                      interpolation=self.interpolation, seed=self.seed)
        return config


class AugMix(_PolicyLayer):
    """Mixes the images with ``num_chains`` chains of random augmentations while training (AugMix).

    Keras 3.15's rule: mixing weights ``m`` from a Dirichlet(``alpha``) (gamma
    draws, normalised) and one ``w ~ Beta(alpha, alpha)`` per call; each chain
    has ``chain_depth`` slots, each taking one operation or none, uniformly,
    with its own draw; every chain starts from the images and the result is
    ``clip(w x + (1 - w) sum_k m_k chain_k(x), *value_range)``. The same
    chains serve the whole batch. The operations are RandomShear,
    RandomTranslation, RandomRotation, RandomPosterization, Solarization,
    AutoContrast and Equalization, plus RandomBrightness,
    RandomColorDegeneration, RandomContrast and RandomSharpness when
    ``all_ops``; made as :class:`RandAugment` makes them.

    Args:
        value_range: ``(low, high)`` of the pixel values, ``(0, 255)`` by default.
        num_chains: the number of chains (at least 1), 3 by default.
        chain_depth: the slots of each chain, 3 by default.
        factor: a number ``f`` in ``[0, 1]`` (``[0, f]``) or a pair: the strength. 0.3 by default.
        alpha: the Dirichlet and Beta parameter, 1.0 by default.
        all_ops: use the four colour operations too (default True).
        interpolation: ``"bilinear"`` (default) or ``"nearest"``.
        seed: int seed, of the layer's draws and of every sub-layer.
        data_format: ``"channels_last"`` (default) or ``"channels_first"``.

    Input shape: rank 3 or 4. Output shape: the same, in the layer's float type (at inference too).
    Gradient: ``w`` times the upstream gradient plus each chain's, back through its operations
    (none through a chain with a posterization, as TensorFlow gives), inside the clip.
    """

    _NAMES = ("random_shear", "random_translation", "random_rotation", "random_posterization", "solarization",
              "auto_contrast", "equalization", "random_brightness", "random_color_degeneration", "random_contrast",
              "random_sharpness")

    def __init__(self, value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3, alpha=1.0, all_ops=True,
                 interpolation="bilinear", seed=None, data_format=None, **kwargs):
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        self.value_range = value_range
        self.num_chains = _check_count("AugMix", "num_chains", num_chains, 1)
        self.chain_depth = _check_count("AugMix", "chain_depth", chain_depth, 0)
        self.factor = _range_factor("AugMix", factor, (0, 1))
        if not _is_number(alpha) or isinstance(alpha, bool) or alpha <= 0:
            raise ValueError(
                f"AugMix: alpha must be a positive number (the Dirichlet and Beta parameter). Received: alpha={alpha!r}"
            )
        self.alpha = alpha
        self.all_ops = bool(all_ops)
        self.interpolation = interpolation
        self._names = self._NAMES if self.all_ops else self._NAMES[:7]
        self._make_layers(self._names)

    def get_random_transformation(self, data, training=True, seed=None):
        """``{"chain_mixing_weights": (num_chains,), "weight_sample": (), "chain_transforms": [...]}``.

        ``chain_transforms`` holds one list per chain of
        ``{"layer_name": name, "transformation": its draw}``. None at inference.
        """
        if not training:
            return None
        xp = backend.xp
        images = self._images_shape(data)
        generator = self._generator(seed)
        gamma = xp.asarray(generator.gamma(self.alpha, size=(self.num_chains,))).astype(self.dtype)
        weights = gamma / gamma.sum(axis=-1, keepdims=True)
        weight_sample = xp.asarray(generator.beta(self.alpha, self.alpha)).astype(self.dtype)
        chains = []
        for _ in range(self.num_chains):
            steps = []
            for _ in range(self.chain_depth):
                choice = int(generator.integers(0, len(self._names) + 1))
                if choice == len(self._names):
                    continue  # Keras's None: this slot does nothing
                name = self._names[choice]
                steps.append({"layer_name": name, "transformation": self._layers[name].get_random_transformation(
                    images, training=True, seed=generator)})
            chains.append(steps)
        return {"chain_mixing_weights": weights, "weight_sample": weight_sample, "chain_transforms": chains}

    def _transform(self, images, transformation, training):
        if not training or transformation is None:
            return images, None
        xp = backend.xp
        dtype = self.dtype
        x = images.astype(dtype, copy=False)
        weights = _host(transformation["chain_mixing_weights"]).astype(dtype)
        weight = _host(transformation["weight_sample"]).astype(dtype)
        mixed = xp.zeros_like(x)
        chains = []
        for index, chain in enumerate(transformation["chain_transforms"]):
            copied, steps = x, []
            for step in chain:
                layer = self._layers[step["layer_name"]]
                copied, cache = layer._transform(copied, step["transformation"], True)
                steps.append((layer, cache))
            mixed = mixed + copied * weights[index]
            chains.append(steps)
        outputs = weight * x + (xp.asarray(1, dtype=dtype) - weight) * mixed
        outputs, inside = _clip_with_mask(outputs, *self.value_range)
        return outputs.astype(dtype, copy=False), (weights, weight, chains, inside)

    def backward(self, output_grads, cache):
        dy = backend.xp.asarray(output_grads)
        if cache is None:
            return dy, {}
        weights, weight, chains, inside = cache
        g = dy * inside
        dx = weight * g
        for index, steps in enumerate(chains):
            chain_grads = _chain_backward(steps, (1 - weight) * weights[index] * g)
            if chain_grads is not None:
                dx = dx + chain_grads
        return dx.astype(dy.dtype, copy=False), {}

    def get_config(self):
        config = super().get_config()
        config.update(value_range=self.value_range, num_chains=self.num_chains, chain_depth=self.chain_depth,
                      factor=self.factor, alpha=self.alpha, all_ops=self.all_ops, interpolation=self.interpolation,
                      seed=self.seed)
        return config


__all__ = ["AugMix", "RandAugment", "RandomPerspective"]
