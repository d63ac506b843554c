"""The networks: ResNet (the image side), the GRU question encoder, MLB, and the whole VQA model;
EfficientNet-Lite, an ImageNet classifier with real weights for explanations on photographs."""
from hadamard_min.models.config import ModelConfigError
from hadamard_min.models.efficientnet import EfficientNetLite, efficientnet_lite0
from hadamard_min.models.mlb import MLB, MLBOutput
from hadamard_min.models.question import GRU, QuestionEncoder
from hadamard_min.models.resnet import Bottleneck, ResNet, resnet152, resnet_from_config
from hadamard_min.models.vqa import VQAModel, VQAOutput, build_vqa_model

__all__ = [
           "GRU",
           "MLB",
           "Bottleneck",
           "EfficientNetLite",
           "MLBOutput",
           "ModelConfigError",
           "QuestionEncoder",
           "ResNet",
           "VQAModel",
           "VQAOutput",
           "build_vqa_model",
           "efficientnet_lite0",
           "resnet152",
           "resnet_from_config",
]
