"""The networks: ResNet (the image side), the GRU question encoder, MLB, and the whole VQA model."""
from .mlb import MLB, MLBOutput
from .question import GRU, QuestionEncoder
from .resnet import Bottleneck, ResNet, resnet152, resnet_from_config
from .vqa import ModelConfigError, VQAModel, VQAOutput, build_vqa_model

__all__ = [
           "GRU",
           "MLB",
           "Bottleneck",
           "MLBOutput",
           "ModelConfigError",
           "QuestionEncoder",
           "ResNet",
           "VQAModel",
           "VQAOutput",
           "build_vqa_model",
           "resnet152",
           "resnet_from_config",
]
