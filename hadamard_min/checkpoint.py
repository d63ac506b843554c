"""Whole-model files: weights, config, vocabulary and answers in one ``.npz``, with a JSON manifest.

A model file ``NAME.npz`` loads with ``allow_pickle=False``: arrays are the state_dict, and the
metadata entries ``__config__``, ``__vocab__``, ``__answers__`` hold JSON. Its manifest ``NAME.json``
records the file's sha256, how it was made (command, seed, library versions, time) and its accuracy;
``load_model`` checks the sha256 whenever a manifest is present.
"""
import hashlib
import json
import os
from pathlib import Path

from .weights import WeightsError, load_npz_metadata, load_weights, save_weights

# The shipped models are the folder weights/ beside the package in a source checkout or an editable install;
# a wheel carries the same files as the package hadamard_min.shipped (pyproject.toml maps one to the other).
_PACKAGE = Path(__file__).resolve().parent
WEIGHTS_FOLDER = _PACKAGE / "shipped" if (_PACKAGE / "shipped").is_dir() else _PACKAGE.parent / "weights"
SHIPPED_MODEL = WEIGHTS_FOLDER / "easyvqa_mlb.npz"  # easy-VQA, the default of every command
SHIPPED_TWO_SHAPE_MODEL = WEIGHTS_FOLDER / "twoshape_mlb.npz"  # two-shape scenes (hadamard-evaluate)


class ModelFileError(WeightsError):
    """A model file is missing, corrupt, or not a hadamard-min model."""


def sha256_of(path):
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_path(path):
    return Path(path).with_suffix(".json")


def save_model(path, model, extra_arrays=None, extra_metadata=None):
    """Write ``model`` (a VQAModel) to ``path`` atomically; returns the file's sha256."""
    metadata = {"config": model.config(), "vocab": model.vocab.to_list(), "answers": list(model.answers)}
    metadata.update(extra_metadata or {})
    arrays = dict(model.state_dict())
    arrays.update(extra_arrays or {})
    save_weights(path, arrays, metadata)
    return sha256_of(path)


def write_manifest(path, **fields):
    """Write ``NAME.json`` next to the model file with its sha256 and the given fields."""
    manifest = {"file": Path(path).name, "sha256": sha256_of(path), **fields}
    target = manifest_path(path)
    tmp = target.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest, indent=2) + "\n")
    os.replace(tmp, target)
    return manifest


def verify_sha256(path):
    """Compare the file's sha256 with its manifest, when there is one; raise ModelFileError if they differ."""
    manifest = manifest_path(path)
    if not manifest.exists():
        return None
    expected = json.loads(manifest.read_text()).get("sha256")
    found = sha256_of(path)
    if expected and expected != found:
        raise ModelFileError(f"{path} is corrupt or was changed: its sha256 is {found[:12]}…, the manifest "
                             f"{manifest.name} says {expected[:12]}…; restore the file (git checkout) or retrain")
    return found


def load_model(path=None, verify=True):
    """Load a VQA model file (default: the shipped easy-VQA model), checking its sha256 when it has a manifest."""
    from .models.vqa import build_vqa_model
    from .text import Vocabulary

    path = Path(path) if path is not None else SHIPPED_MODEL
    if not path.exists():
        hint = ("the shipped model is missing: restore it (`git checkout weights/` in a checkout, reinstall "
                "hadamard-min otherwise) or retrain with hadamard-train" if path.parent == WEIGHTS_FOLDER
                else "check the path given with --weights")
        raise ModelFileError(f"model file not found: {path} ({hint})")
    if verify:
        verify_sha256(path)
    metadata = load_npz_metadata(path)
    missing = [key for key in ("config", "vocab", "answers") if key not in metadata]
    if missing:
        raise ModelFileError(f"{path} is not a hadamard-min model file (no {', '.join(missing)} inside); "
                             f"weight files of one network are loaded with load_weights instead")
    model = build_vqa_model(metadata["config"], Vocabulary.from_list(metadata["vocab"]), metadata["answers"])
    # a training checkpoint also holds Adam's state, which a model does not load
    state = {k: v for k, v in load_weights(path).items() if not k.startswith("adam.")}
    model.load_state_dict(state, source=str(path))
    return model.eval()
