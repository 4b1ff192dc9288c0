"""Keras's applications built from course_lib layers: the architecture, with weights from a local file."""
from course_lib.applications import imagenet_utils, vgg16, vgg19
from course_lib.applications.vgg16 import VGG16
from course_lib.applications.vgg19 import VGG19
from course_lib.applications import resnet, resnet50, resnet_v2
from course_lib.applications.resnet import ResNet50, ResNet101, ResNet152
from course_lib.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from course_lib.applications import densenet, inception_resnet_v2, inception_v3, xception
from course_lib.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from course_lib.applications.inception_resnet_v2 import InceptionResNetV2
from course_lib.applications.inception_v3 import InceptionV3
from course_lib.applications.xception import Xception
from course_lib.applications import mobilenet, mobilenet_v2, mobilenet_v3
from course_lib.applications.mobilenet import MobileNet
from course_lib.applications.mobilenet_v2 import MobileNetV2
from course_lib.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from course_lib.applications import convnext
from course_lib.applications.convnext import ConvNeXtBase, ConvNeXtLarge, ConvNeXtSmall, ConvNeXtTiny, ConvNeXtXLarge
from course_lib.applications import efficientnet, efficientnet_v2
from course_lib.applications.efficientnet import (EfficientNetB0, EfficientNetB1, EfficientNetB2, EfficientNetB3,
                                                  EfficientNetB4, EfficientNetB5, EfficientNetB6, EfficientNetB7)
from course_lib.applications import nasnet
from course_lib.applications.nasnet import NASNetLarge, NASNetMobile
from course_lib.applications.efficientnet_v2 import (EfficientNetV2B0, EfficientNetV2B1, EfficientNetV2B2,
                                                     EfficientNetV2B3, EfficientNetV2L, EfficientNetV2M,
                                                     EfficientNetV2S)

__all__ = ["VGG16", "VGG19", "imagenet_utils", "vgg16", "vgg19",
           "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2", "ResNet152V2", "resnet",
           "resnet50", "resnet_v2",
           "DenseNet121", "DenseNet169", "DenseNet201", "InceptionResNetV2", "InceptionV3", "Xception",
           "densenet", "inception_resnet_v2", "inception_v3", "xception",
           "MobileNet", "MobileNetV2", "MobileNetV3Large", "MobileNetV3Small", "mobilenet",
           "mobilenet_v2", "mobilenet_v3",
           "ConvNeXtTiny", "ConvNeXtSmall", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge", "convnext",
           "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3", "EfficientNetB4",
           "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "efficientnet",
           "EfficientNetV2B0", "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2S",
           "EfficientNetV2M", "EfficientNetV2L", "efficientnet_v2", "NASNetLarge", "NASNetMobile", "nasnet"]
