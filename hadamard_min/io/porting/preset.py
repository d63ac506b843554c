"""The paper's pipeline as a preset: ImageNet ResNet + a published MLB, 448×448 images, explained.

    hadamard-explain --preset mlb-vqa --resnet RESNET --mlb MLB_FILE --vocab VOCAB [--answers ANSWERS]
                     --image photo.jpg --question "..."

The MLB file decides the model's options:

    MLB.t7            the original Torch7 MLB (jnhwkim/MulLowBiVQA): pre-ReLU features, reset_before GRU,
                      no tanh after the attention product or before the classifier, G = 2;
                      VOCAB is its data_prepro.json (words and answers); sizes as the paper unless
                      ``--mlb-sizes`` says otherwise
    *.pth/.pt/.bin    vqa.pytorch's MLB with attention (Cadene/vqa.pytorch): post-ReLU features,
                      reset_after GRU, both tanh; every size from the file; VOCAB wid_to_word.pickle (or
                      word_to_wid), ANSWERS aid_to_ans.pickle (or ans_to_aid)

Both see images as the original code did: shorter side resized to 448 (bicubic), centre crop 448×448,
ImageNet mean/std, so ResNet-152 gives a 14×14 grid. The ResNet's layout (blocks per stage, width) is
read off its weight file (``resnet_files``): fbresnet152 (fb.resnet.torch's ResNet-152, the one both
published MLBs were trained on), or torchvision's or timm's ResNet-152.
"""
from pathlib import Path

from hadamard_min.core.backend import to_numpy
from hadamard_min.io.porting.common import PortError
from hadamard_min.io.porting.resnet_files import resnet_state
from hadamard_min.io.porting.torch7_mlb import port_torch7_mlb
from hadamard_min.io.porting.vqa_pytorch import port_vqa_pytorch
from hadamard_min.io.weights import WeightsError, load_weights
from hadamard_min.models.config import check_config
from hadamard_min.models.vqa import build_vqa_model

PRESETS = {"mlb-vqa": {"image_size": 448, "crop": True, "max_length": 26}}
TORCH_SUFFIXES = (".pth", ".pt", ".bin", ".tar")
WHERE = {
    "resnet": "ImageNet ResNet-152 weights: fbresnet152-2e20f6b4.pth (fb.resnet.torch's, which the MLBs "
              "were trained on; github.com/Cadene/pretrained-models.pytorch), or torchvision's "
              "resnet152-394f9c45.pth or timm's resnet152.tv_in1k model.safetensors",
    "mlb": "trained MLB weights: vqa.pytorch's MLB-attention checkpoint (github.com/Cadene/vqa.pytorch, "
           "re-saved as .pth) or the original model/MLB.t7 (github.com/jnhwkim/MulLowBiVQA)",
    "vocab": "the word list saved with those weights: vqa.pytorch's wid_to_word.pickle, or the original "
             "data_prepro.json (VQA_LSTM_CNN preprocessing, see jnhwkim/MulLowBiVQA)",
    "answers": "the answer list saved with a vqa.pytorch checkpoint: aid_to_ans.pickle",
}


class PresetFilesError(WeightsError):
    """Files a preset needs are not given or do not exist."""


def check_files(preset, **paths):
    """Refuse, in one message, every needed file that is not given or not there (answers: .pth only)."""
    mlb = paths.get("mlb")
    needed = ["resnet", "mlb", "vocab"] + (["answers"] if mlb and Path(mlb).suffix != ".t7" else [])
    problems = []
    for name in needed:
        path = paths.get(name)
        if path is None or not Path(path).exists():
            state = "not given" if path is None else f"no such file {path}"
            problems.append(f"--{name} ({state}): {WHERE[name]}")
    if problems:
        raise PresetFilesError(f"the {preset} preset needs: {'; '.join(problems)}; see weights/README.md")


def port_mlb_file(mlb, vocab, answers=None, visual_dim=2048, mlb_sizes=None):
    """Port ``mlb`` by its suffix: ``.t7`` the original Torch7 MLB, a torch checkpoint vqa.pytorch's."""
    suffix = Path(mlb).suffix
    if suffix == ".t7":
        return port_torch7_mlb(mlb, vocab, answers, visual_dim=visual_dim, **(mlb_sizes or {}))
    if suffix not in TORCH_SUFFIXES:
        raise PortError(f"{mlb}: unknown MLB file type {suffix or '(no suffix)'}; expected MLB.t7 (original) "
                        f"or a vqa.pytorch checkpoint (.pth)")
    if mlb_sizes:
        raise PortError(f"{mlb}: --mlb-sizes applies to MLB.t7 only; a vqa.pytorch checkpoint carries its "
                        f"sizes")
    return port_vqa_pytorch(mlb, vocab, answers)


def build_preset(name, resnet, mlb, vocab, answers=None, mlb_sizes=None):
    """A frozen-ready :class:`VQAModel`: the ResNet of ``resnet`` + the MLB of ``mlb`` (see the module doc).

    ``mlb_sizes`` overrides the Torch7 sizes (word_dim, question_dim, joint_dim, glimpses).
    """
    if name not in PRESETS:
        raise PortError(f"unknown preset {name!r}; available: {', '.join(PRESETS)}")
    check_files(name, resnet=resnet, mlb=mlb, vocab=vocab, answers=answers)
    backbone, arrays = resnet_state(load_weights(resnet), resnet)
    channels = backbone["width"] * 4 * 2 ** (len(backbone["layers"]) - 1)
    ported = port_mlb_file(mlb, vocab, answers, visual_dim=channels, mlb_sizes=mlb_sizes)
    if ported.config["visual_dim"] != channels:
        raise PortError(f"{mlb} reads {ported.config['visual_dim']}-channel image features but the ResNet of "
                        f"{resnet} gives {channels}; use the ResNet the MLB was trained on "
                        f"(ResNet-152: 2048)")
    config = {"backbone": backbone, **PRESETS[name], **ported.config}
    declared = check_config(config, len(ported.vocab), len(ported.answers))
    held = sum(array.size for array in (*arrays.values(), *ported.state.values())) + (channels + 1) * (
        "fc.weight" not in arrays)  # a features-only file: the classifier built below is one class
    if held < declared:  # checked before the model is built: empty tensors cannot make it allocate gigabytes
        raise PortError(f"{resnet} and {mlb} describe a model of {declared:,} parameters but hold {held:,} "
                        f"numbers; a file is corrupt or crafted (its tensors' shapes say more than they hold)")
    model = build_vqa_model(config, ported.vocab, ported.answers)
    if "fc.weight" not in arrays:  # a features-only file: keep the (unused) classifier as built
        arrays.update({"fc.weight": to_numpy(model.backbone.fc.weight.data),
                       "fc.bias": to_numpy(model.backbone.fc.bias.data)})
    model.backbone.load_state_dict(arrays, source=str(resnet))
    model.encoder.load_state_dict(_under(ported.state, "encoder."), source=ported.source)
    model.mlb.load_state_dict(_under(ported.state, "mlb."), source=ported.source)
    return model.eval()


def _under(state, prefix):
    return {name[len(prefix):]: array for name, array in state.items() if name.startswith(prefix)}


def preset_model(args):
    """The model of ``args.preset`` from the files ``cli.preset_options.add_preset_arguments`` names (not with
    --weights)."""
    if getattr(args, "weights", None) is not None:
        raise PresetFilesError("--weights and --preset exclude each other: a preset builds its model from "
                               "--resnet, --mlb and --vocab")
    return build_preset(args.preset, resnet=args.resnet, mlb=args.mlb, vocab=args.vocab, answers=args.answers,
                        mlb_sizes=args.mlb_sizes)
