"""Published MLB models in our layout: vqa.pytorch checkpoints, the original Torch7 MLB, skip-thoughts.

Each port reads a file in its documented layout (cited in each module's docstring), refuses a file of
any other size or shape with a message naming what was expected and what was found, and returns
arrays under our names. ``preset.build_preset("mlb-vqa", …)`` puts one together with an ImageNet ResNet.
"""
from hadamard_min.io.porting.common import PortedMLB, PortError
from hadamard_min.io.porting.index_files import read_names
from hadamard_min.io.porting.preset import PresetFilesError, build_preset, preset_model
from hadamard_min.io.porting.skipthoughts import port_uni_skip
from hadamard_min.io.porting.torch7 import T7Error, TorchObject, module_parameters, read_t7
from hadamard_min.io.porting.torch7_mlb import mlb_t7_layout, port_torch7_mlb, port_torch7_question_encoder
from hadamard_min.io.porting.vqa_pytorch import port_vqa_pytorch

__all__ = ["PortError", "PortedMLB", "PresetFilesError", "T7Error", "TorchObject",
           "build_preset", "mlb_t7_layout", "module_parameters", "port_torch7_mlb",
           "port_torch7_question_encoder", "port_uni_skip", "port_vqa_pytorch",
           "preset_model", "read_names", "read_t7"]
