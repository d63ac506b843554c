"""Train a VQA model (small ResNet + GRU + MLB) end to end on the engine itself.

One step takes a batch of *images* and all of their questions: the backbone runs once per image and
each question picks its image's features (about ten questions per easy-VQA image), then
cross-entropy, backward, gradient clipping and Adam. Every epoch ends with a validation pass and a
checkpoint written to a temporary file and renamed, so Ctrl-C never leaves a broken checkpoint.
"""
import dataclasses
import math
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy

from hadamard_min import ops
from hadamard_min.core.backend import get_xp, to_device, to_numpy
from hadamard_min.core.function import no_grad
from hadamard_min.core.tensor import Tensor
from hadamard_min.data.easyvqa import QUESTION_TYPES, iterate_batches, load_easy_vqa
from hadamard_min.data.text import Vocabulary
from hadamard_min.io.errors import WeightsError
from hadamard_min.io.limits import is_int
from hadamard_min.io.model_files import save_model, write_manifest
from hadamard_min.io.npz import load_npz_metadata, save_weights
from hadamard_min.io.weights import load_weights
from hadamard_min.nn.optim import Adam, clip_grad_norm
from hadamard_min.progress import Progress
from hadamard_min.training import random_state
from hadamard_min.training.resumed_sizes import check_resumed_sizes, refuse_other_run

DEFAULT_CONFIG = {
    "backbone": {"layers": [1, 1], "width": 16},
    "image_size": 64,
    "pre_relu": True,
    "word_dim": 32,
    "question_dim": 128,
    "candidate": "reset_after",
    "joint_dim": 128,
    "glimpses": 2,
    "dropout": 0.1,
    "max_length": 12,
}


@dataclass
class TrainSettings:
    epochs: int = 6
    batch_images: int = 32
    lr: float = 2e-3
    clip: float = 10.0
    seed: int = 0
    stop_after: int = 0  # > 0: stop after this many epochs (the schedule still spans ``epochs``); --resume goes on
    limit_images: int = 0  # > 0: use only the first this many images of each split (a quick look)


def image_batch(model, data, rows):
    """The images of ``rows`` as the model's normalised float input (B, 3, S, S) on the current device."""
    return Tensor(to_device(numpy.stack([model.prepare_image(data.images[r])[1] for r in rows])))


def questions_of(data, image_rows):
    """All questions whose image is among ``image_rows``, and for each the position of its image."""
    position = {int(r): i for i, r in enumerate(image_rows)}
    picked = numpy.flatnonzero(numpy.isin(data.image_index, image_rows))
    return picked, numpy.array([position[int(data.image_index[q])] for q in picked])


def predict(model, data, batch_images=64):
    """Predicted answer index for every question of ``data`` (inference, no graph)."""
    predictions = numpy.empty(len(data), dtype=numpy.int64)
    with model.frozen(), no_grad():
        for rows in iterate_batches(len(data.images), batch_images):
            picked, image_index = questions_of(data, rows)
            if len(picked) == 0:
                continue
            ids, lengths = model.encode_questions([data.questions[q] for q in picked])
            out = model(image_batch(model, data, rows), ids, lengths, image_index=image_index)
            predictions[picked] = to_numpy(out.logits.data.argmax(axis=1))
    return predictions


def accuracy_by_type(data, predictions, answer_list):
    """Overall accuracy and accuracy per question type (yes/no, color, shape)."""
    truth = numpy.array([answer_list.index(a) for a in data.answers])
    correct = predictions == truth
    types = numpy.array(data.question_types())
    result = {"overall": float(correct.mean()), "count": len(correct)}
    for kind in QUESTION_TYPES:
        result[kind] = float(correct[types == kind].mean())
    return result


PER_IMAGE = ("images", "image_ids", "shape_masks", "shape_names")
PER_QUESTION = ("questions", "answers", "image_index", "answer_ids", "referent")


def first_images(data, count):
    """The split cut down to its first ``count`` images and their questions (``count`` = 0: all of it)."""
    if not count or count >= len(data.images):
        return data
    keep = numpy.flatnonzero(data.image_index < count)
    fields = {}
    for name in PER_IMAGE + PER_QUESTION:
        value = getattr(data, name, None)
        if value is None:
            continue
        if name in PER_IMAGE:
            fields[name] = value[:count]
        else:
            fields[name] = value[keep] if hasattr(value, "shape") else [value[i] for i in keep]
    return dataclasses.replace(data, **fields)


def cosine_lr(settings, progress):
    """The learning rate at ``progress`` ∈ [0, 1] of the whole run: lr · (1 + cos πt)/2, ending at lr/20."""
    floor = settings.lr / 20
    return floor + (settings.lr - floor) * (1 + math.cos(math.pi * progress)) / 2


def train_epoch(model, optimizer, data, answer_ids, settings, rng, label, epoch):
    model.train()
    xp = get_xp()
    image_rows = numpy.arange(len(data.images))
    batches = list(iterate_batches(len(image_rows), settings.batch_images, rng))
    progress = Progress(len(batches), label)
    total_loss = total_correct = total_count = 0.0
    for step, batch in enumerate(batches, 1):
        optimizer.lr = cosine_lr(settings, (epoch + (step - 1) / len(batches)) / settings.epochs)
        rows = image_rows[batch]
        picked, image_index = questions_of(data, rows)
        ids, lengths = model.encode_questions([data.questions[q] for q in picked])
        out = model(image_batch(model, data, rows), ids, lengths, image_index=image_index)
        targets = xp.asarray(answer_ids[picked])
        loss = ops.cross_entropy(out.logits, targets)
        optimizer.zero_grad()
        loss.backward()
        clip_grad_norm(optimizer.parameters, settings.clip)
        optimizer.step()
        total_loss += loss.item() * len(picked)
        total_correct += float((out.logits.data.argmax(axis=1) == targets).sum())
        total_count += len(picked)
        progress.update(step, loss=total_loss / total_count, acc=total_correct / total_count)
    progress.close()
    return total_loss / total_count, total_correct / total_count


def library_versions():
    versions = {"python": platform.python_version(), "numpy": numpy.__version__}
    try:
        import cupy
        versions["cupy"] = cupy.__version__
    except ImportError:
        pass
    return versions


def build_model(config, train_data, seed):
    """A fresh model: vocabulary from the training questions, answers from the data set.

    The question's side of the attention (U_q of eq. 4) starts at zero, so α is at first the same for
    every question and learns from the image alone where the shape is; the question's say in α then
    grows with training. From a random U_q, the yes/no questions ("is there a red shape?") start
    with attention on the background, where V carries nothing about the shape, and the model settles
    for guessing from the words (82.5 % on yes/no, the answer prior of each question) for many epochs.
    """
    from hadamard_min.data.images import IMAGENET_MEAN, IMAGENET_STD
    from hadamard_min.models.vqa import build_vqa_model

    config = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD), "seed": seed, **config}
    vocab = Vocabulary.build(train_data.questions)
    model = build_vqa_model(config, vocab, train_data.answer_list)
    model.mlb.linear_q_att.weight.data[...] = 0
    return model


def checkpoint_path(out_path):
    """Where training to ``out_path`` (``NAME.npz``) keeps its checkpoint: ``NAME.checkpoint.npz``."""
    return out_path.with_name(out_path.stem + ".checkpoint.npz")


RESUMED_SETTINGS = ("seed", "lr", "batch_images", "clip")  # a --resume must give those the run was started with


def save_checkpoint(path, model, optimizer, epoch, history, settings, rng):
    """Weights, Adam's state, the history so far, the run's settings and random state (``random_state.py``),
    written atomically (``save_weights``)."""
    arrays = dict(model.state_dict())
    arrays.update(optimizer.state())
    random_arrays, random_metadata = random_state.saved(rng)
    arrays.update(random_arrays)
    metadata = {"config": model.config(), "vocab": model.vocab.to_list(), "answers": list(model.answers),
                "epoch": epoch, "history": history, "random_state": random_metadata,
                "settings": {name: getattr(settings, name) for name in RESUMED_SETTINGS}}
    save_weights(path, {k: to_numpy(v) if hasattr(v, "shape") else numpy.asarray(v) for k, v in arrays.items()},
                 metadata)


def check_weights_finite(model, epoch, checkpoint):
    """Refuse to write weights that training made NaN or infinite: a model file of them answers nothing, and
    every command refuses to load it."""
    for name, array in model.state_dict().items():
        if not numpy.isfinite(array).all():
            raise WeightsError(f"training diverged in epoch {epoch}: weight {name} became NaN or infinity, so "
                               f"nothing of that epoch was written ({checkpoint} keeps the last good epoch, if any); "
                               f"start again with a lower --lr")


def resume(path, model, optimizer, settings, rng):
    """Load weights, Adam state and random state from a checkpoint of a run with these ``settings`` (epochs,
    seed, learning rate, batch, clip) on the data ``model`` was built from (the same vocabulary and answers);
    returns (epochs done, history)."""
    epochs = settings.epochs
    arrays = load_weights(path)
    metadata = load_npz_metadata(path)
    epoch, history = metadata.get("epoch"), metadata.get("history", [])
    if not (is_int(epoch) and epoch >= 0 and isinstance(history, list) and all(
            isinstance(h, dict) and isinstance(h.get("seconds"), int | float) for h in history)):
        raise WeightsError(f"{path} is not a checkpoint of hadamard-train (its epoch count or history is missing); "
                           f"start again without --resume")
    spent = [h["seconds"] for h in history]
    wrong = next((seconds for seconds in spent if not 0 <= seconds < math.inf), None)
    if wrong is not None or sum(spent) == math.inf:  # two epochs of 1e308 s each make the time spent inf
        took = f"an epoch took {wrong!r} s" if wrong is not None else "its epochs took more seconds than a float holds"
        raise WeightsError(f"{path}: its history says {took}, not a time (a finite number of seconds, at least 0); "
                           f"the checkpoint is corrupt: start again without --resume")
    if not epoch <= epochs or len(history) != epoch:
        raise WeightsError(f"{path} says {str(epoch)[:20]} epochs are done (its history lists {len(history)}), "
                           f"but the run has {epochs}; the checkpoint is corrupt or of another run: start again "
                           f"without --resume, or give the --epochs it was started with")
    for key, ours in (("vocab", model.vocab.to_list()), ("answers", list(model.answers))):
        if metadata.get(key) != ours:
            raise WeightsError(f"{path} was trained with another {'vocabulary' if key == 'vocab' else 'answer list'} "
                               f"than the data's (other data or --limit-images); start again without --resume")
    given = metadata.get("settings", {})  # none in a checkpoint written before they were kept
    if not isinstance(given, dict) or any(type(given[name]) not in (int, float) for name in RESUMED_SETTINGS
                                          if name in given):  # a seed of "0" would be 'of a run with --seed 0, not 0'
        raise WeightsError(f"{path}: its settings are not a JSON object of numbers; the checkpoint is corrupt: start "
                           f"again without --resume")
    for name in (name for name in RESUMED_SETTINGS if name in given and given[name] != getattr(settings, name)):
        refuse_other_run(path, name.replace("_", "-"), given[name], getattr(settings, name))
    check_resumed_sizes(path, metadata.get("config"), model.config())
    model.load_state_dict({k: v for k, v in arrays.items() if not k.startswith(("adam.", "rng."))}, source=str(path))
    optimizer.load_state({k: v for k, v in arrays.items() if k.startswith("adam.")}, source=str(path))
    random_state.restore(rng, arrays, metadata.get("random_state"), path)
    return epoch, history


def train(out_path, config=None, settings=None, resume_from=None, command="", dataset=load_easy_vqa):
    """Train, checkpoint every epoch, then write the model file and its manifest. Returns the manifest."""
    settings = settings or TrainSettings()
    numpy.random.seed(settings.seed)
    get_xp().random.seed(settings.seed)
    rng = numpy.random.default_rng(settings.seed)
    train_data, val_data, test_data = (first_images(dataset(split), settings.limit_images)
                                       for split in ("train", "val", "test"))
    model = build_model({**DEFAULT_CONFIG, **(config or {})}, train_data, settings.seed)
    optimizer = Adam(model.parameters(), lr=settings.lr)
    checkpoint = checkpoint_path(out_path)
    first_epoch, history = resume(resume_from, model, optimizer, settings, rng) if resume_from else (0, [])
    answer_ids = numpy.array([train_data.answer_list.index(a) for a in train_data.answers])
    print(f"training on {len(train_data)} questions / {len(train_data.images)} images, "
          f"{model.num_parameters():,} parameters, device {get_xp().__name__}", file=sys.stderr)
    start = time.perf_counter() - sum(h["seconds"] for h in history)
    for epoch in range(first_epoch, min(settings.epochs, settings.stop_after or settings.epochs)):
        epoch_start = time.perf_counter()
        loss, acc = train_epoch(model, optimizer, train_data, answer_ids, settings, rng,
                                f"epoch {epoch + 1}/{settings.epochs}", epoch)
        val = accuracy_by_type(val_data, predict(model, val_data), model.answers)
        history.append({"epoch": epoch + 1, "loss": loss, "train_accuracy": acc, "val_accuracy": val["overall"],
                        "seconds": time.perf_counter() - epoch_start})
        print(f"epoch {epoch + 1}: loss {loss:.4f}  train acc {acc:.4f}  val acc {val['overall']:.4f}",
              file=sys.stderr)
        check_weights_finite(model, epoch + 1, checkpoint)
        save_checkpoint(checkpoint, model, optimizer, epoch + 1, history, settings, rng)
    seconds = time.perf_counter() - start
    test = accuracy_by_type(test_data, predict(model, test_data), model.answers)
    save_model(out_path, model)
    return write_manifest(out_path, command=command, seed=settings.seed, settings=vars(settings),
                          config=model.config(), versions=library_versions(), training_seconds=round(seconds, 1),
                          machine=_machine(), history=history,
                          test_accuracy=test)


def _machine():
    threads = os.environ.get("OMP_NUM_THREADS", "unset")
    return f"{platform.machine()}, {_cores()} cores, OMP_NUM_THREADS={threads}"


def _cores():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
