"""The networks: ResNet (the image side), the GRU question encoder, MLB, and the whole VQA model."""
from hadamard_min.models.config import ModelConfigError
from hadamard_min.models.mlb import MLB, MLBOutput
from hadamard_min.models.question import GRU, QuestionEncoder
from hadamard_min.models.resnet import Bottleneck, ResNet, resnet152, resnet_from_config
from hadamard_min.models.vqa import VQAModel, VQAOutput, build_vqa_model

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
