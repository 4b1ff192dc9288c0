"""Keras's applications built from course_lib layers: the architecture, with weights from a local file."""
from course_lib.applications import vgg16
from course_lib.applications.vgg16 import VGG16

__all__ = ["VGG16", "vgg16"]
