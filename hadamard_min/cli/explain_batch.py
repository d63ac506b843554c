"""``hadamard-explain --batch PAIRS.jsonl --out-dir DIR``: many (image, question) pairs from one file.

PAIRS.jsonl holds one JSON object per line, ``{"image": "photos/cat.png", "question": "what is it?"}``;
a relative image path is read from the folder of PAIRS.jsonl; blank lines are skipped; a line that starts with
``#`` is a bad line (JSON Lines has no comments: one written as such is said to be one, not "not JSON"). DIR (new, or
empty; its parent must exist) receives one figure per pair, ``NNNN.png`` after the pair's line number,
and ``results.jsonl``: one JSON line per pair, in the file's order, with what ``--json`` writes for one
pair, or ``{"line": N, "error": …}`` for a line that could not be explained (not JSON, a missing key,
an unreadable image, a question the model cannot read, an image too large for the memory left). Each
such line is also reported on stderr, in one line (what it quotes with its control characters escaped),
and skipped; the others are explained. Exit status 0: every pair explained; 1: some lines failed. An image of
several frames (an animated GIF) is explained from its first, and its record's ``"note"`` says so, as a ``note:``
line on stderr does (from the workers a warning would break the progress bar's line, so it travels in the record).
``--workers N`` processes share the chunks of ``--batch-size`` lines, reading the images and drawing the figures
included (:mod:`hadamard_min.parallel`). Only a chunk's images are held, each as the network sees it (``--fit``
applied): its figures and maps are drawn at that size. Ctrl-C (status 130) or SIGTERM (143), or an error that ends
the batch (status 2), still writes ``results.jsonl``, the lines not reached marked ``"error": "not explained: …"``.
"""
import json
import sys
import warnings
from pathlib import Path

from hadamard_min.cli.errors import USER_ERRORS, UsageError
from hadamard_min.cli.explain_options import explain_pairs, save_figure
from hadamard_min.data.frames import FramesWarning
from hadamard_min.escapes import file_name, printable
from hadamard_min.explain.framing import frame
from hadamard_min.io.atomic import utf8_safe, write_text
from hadamard_min.io.limits import byte_lines, parse_json
from hadamard_min.parallel import map_chunks, worker_count
from hadamard_min.progress import Progress, in_chunks

RESULTS = "results.jsonl"
NOT_REACHED = "not explained: the run ended before this line"


def run_batch(args, model, prog="hadamard-explain"):
    """Explain every good line of ``args.batch`` into ``args.out_dir``; the exit status.

    The lines go to the workers in chunks, read and explained there, so that only a chunk's images are held
    at once and the progress line starts with the first chunk. Interrupted (Ctrl-C, SIGTERM) or ended by an
    error (a worker killed), it still writes ``results.jsonl``: the lines not reached say so."""
    lines = read_lines(args.batch)
    prepare_folder(args.out_dir)
    records = {number: {"line": number, "error": NOT_REACHED} for number, _ in lines}
    chunks = [lines[part] for part in in_chunks(len(lines), args.batch_size, "", False)]
    progress, done, failed = Progress(len(lines), "explain"), 0, 0
    explained = map_chunks(explain_chunk, (args, model), chunks, worker_count(args.workers, len(lines)))
    try:
        for chunk in explained:
            for number, record in chunk:
                records[number] = record
                if "error" in record:
                    failed += 1
                    progress.close()  # the message on a line of its own, not after the bar
                    print(printable(f"{prog}: {args.batch.name} line {number}: {record['error']}; skipped"),
                          file=sys.stderr)
                elif "note" in record:
                    progress.close()
                    print(printable(f"note: {args.batch.name} line {number}: {record['note']}"), file=sys.stderr)
            done += len(chunk)
            progress.update(done)
    except BaseException as error:  # Ctrl-C, SIGTERM, or an error that ends the batch (a worker killed, …)
        explained.close()  # every worker ended: none is still drawing
        progress.close()  # the message after this on a line of its own
        for number, record in records.items():  # a figure whose record did not come back before the end
            if record.get("error") == NOT_REACHED:
                (args.out_dir / f"{number:04d}.png").unlink(missing_ok=True)
        try:
            write_results(args.out_dir, records, lines)
        except OSError:  # a full disk that ended the batch: its own error is the one to report
            pass
        if isinstance(error, KeyboardInterrupt):
            print(f"{prog}: {done} of {len(lines)} lines done; {RESULTS} lists the rest as not explained",
                  file=sys.stderr)
        raise
    progress.close()
    write_results(args.out_dir, records, lines)
    print(f"explained {done - failed} of {len(lines)} pairs into {args.out_dir}/ ({RESULTS} and one figure each)"
          + (f"; {failed} failed, reported above" if failed else ""))
    return 1 if failed else 0


def write_results(folder, records, lines):
    """``results.jsonl``: one JSON line per line of the batch file, in its order."""
    write_text(folder / RESULTS, "".join(utf8_safe(json.dumps(records[number], ensure_ascii=False)) + "\n"
                                         for number, _ in lines))


def explain_chunk(job, chunk):
    """Read, explain and save the figure of each line of one chunk ``[(line number, bytes)]``; what
    ``results.jsonl`` says of each, ``[(line number, record)]`` in order (in a worker process of
    :mod:`hadamard_min.parallel`, or here). A line that cannot be explained gets ``{"line": N, "error": …}``."""
    args, model = job
    records, pairs = {}, []
    for number, line in chunk:
        try:
            image_path, question = parse_line(line, args.batch.parent)
            image, note = _framed(model, image_path, args.fit)  # --fit applied, kept at the network's size only
            model.encode_questions([question])                  # a question the model cannot read fails here
        except (*USER_ERRORS, MemoryError) as error:
            message = str(error) if not isinstance(error, MemoryError) else "not enough memory for this image"
            records[number] = {"line": number, "error": message}
            continue
        pairs.append((number, image, question, image_path, note))
    results = explain_pairs(args, model, [pair[1] for pair in pairs], [pair[2] for pair in pairs]) if pairs else []
    for (number, _, _, image_path, note), result in zip(pairs, results):
        figure = f"{number:04d}.png"
        save_figure(args.out_dir / figure, result, Path(image_path).name, args.outlier_perc)
        records[number] = {"line": number, "image": str(image_path), **result.to_json(), "figure": figure,
                           **({"note": note} if note else {})}
    return [(number, records[number]) for number, _ in chunk]


def _framed(model, image_path, fit):
    """The network's picture of ``image_path`` and the note of its frames (None for one frame), for the record:
    a warning from a worker would print across the progress bar. Other warnings go on as they came."""
    with warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", FramesWarning)
        image = frame(model, image_path, fit)[1]
    notes = [str(w.message) for w in said if issubclass(w.category, FramesWarning)]
    for w in said:
        if not issubclass(w.category, FramesWarning):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return image, (notes[0] if notes else None)


def read_lines(path):
    """``[(line number, bytes)]`` of the non-blank lines (the file at most ``MAX_TEXT_BYTES``, each line decoded
    on its own: one that is not UTF-8 fails alone); the file must exist and hold at least one line."""
    lines = byte_lines(path)
    if not lines:
        raise UsageError(f"{path} holds no lines to explain")
    return lines


def parse_line(line, folder):
    """``(image path, question)`` of one JSON line (bytes); a relative image path is taken from ``folder``."""
    if line.lstrip().startswith(b"#"):
        raise UsageError("a '#' comment: JSON Lines has no comments; delete the line")
    pair = parse_json(line, "this line", "text")  # UTF-8, and bounded: depth, size, huge integers
    if not isinstance(pair, dict):
        raise UsageError(f'not a JSON object {{"image": …, "question": …}} but {type(pair).__name__}')
    for key in ("image", "question"):
        if not isinstance(pair.get(key), str) or not pair[key].strip():
            raise UsageError(f'"{key}" is missing or not a non-empty string')
    return folder / file_name(pair["image"]), pair["question"]


def prepare_folder(folder):
    """Create ``folder`` (its parent must exist); an existing one must be empty: nothing is overwritten. An empty
    ``results.jsonl`` claims it at once, so that two runs given one folder cannot replace each other's files."""
    if folder.is_symlink() and not folder.exists():
        raise FileExistsError(f"--out-dir {folder} is a link to nothing: choose a folder name")
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"--out-dir {folder} is a file: choose a folder name")
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"--out-dir {folder} is not empty; choose a new folder")
    if not folder.resolve().parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder.resolve().parent} (create it first)")
    folder.mkdir(exist_ok=True)
    try:  # claimed in one step: a second run into the same folder, checked before this, is refused, not merged
        (folder / RESULTS).open("x").close()
    except FileExistsError:
        raise FileExistsError(f"--out-dir {folder} is being written by another run; choose a new folder") from None
