"""Keras's applications built from course_lib layers: the architecture, with weights from a local file."""
from course_lib.applications import imagenet_utils, vgg16, vgg19
from course_lib.applications.vgg16 import VGG16
from course_lib.applications.vgg19 import VGG19

__all__ = ["VGG16", "VGG19", "imagenet_utils", "vgg16", "vgg19"]
