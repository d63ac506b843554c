"""``hadamard-explain --batch PAIRS.jsonl --out-dir DIR``: many (image, question) pairs from one file.

PAIRS.jsonl holds one JSON object per line, ``{"image": "photos/cat.png", "question": "what is it?"}``;
a relative image path is read from the folder of PAIRS.jsonl; blank lines are skipped. DIR (new, or
empty; its parent must exist) receives one figure per pair, ``NNNN.png`` after the pair's line number,
and ``results.jsonl``: one JSON line per pair, in the file's order, with what ``--json`` writes for one
pair, or ``{"line": N, "error": …}`` for a line that could not be explained (not JSON, a missing key,
an unreadable image, a question the model cannot read, an image too large for the memory left). Each
such line is also reported on stderr, in one line (what it quotes with its control characters escaped),
and skipped; the others are explained. Exit status 0: every pair explained; 1: some lines failed.
``--workers N`` processes share the chunks of ``--batch-size`` pairs, figures included (:mod:`hadamard_min.parallel`).
Each image is kept only as the network sees it (``--fit`` applied), so a long batch of large photographs holds
no more than their squares: its figures and maps are drawn at that size.
"""
import json
import sys
from pathlib import Path

from hadamard_min.cli.errors import USER_ERRORS, UsageError
from hadamard_min.cli.explain_options import explain_pairs, save_figure
from hadamard_min.escapes import printable
from hadamard_min.explain.framing import frame
from hadamard_min.io.atomic import utf8_safe, write_text
from hadamard_min.io.limits import byte_lines, parse_json
from hadamard_min.parallel import map_chunks, worker_count
from hadamard_min.progress import in_chunks

RESULTS = "results.jsonl"


def run_batch(args, model, prog="hadamard-explain"):
    """Explain every good line of ``args.batch`` into ``args.out_dir``; the exit status."""
    lines = read_lines(args.batch)
    prepare_folder(args.out_dir)
    records, pairs = {}, []
    for number, line in lines:
        try:
            image_path, question = parse_line(line, args.batch.parent)
            image = frame(model, image_path, args.fit)[1]       # --fit applied, kept at the network's size only
            model.encode_questions([question])                  # a question the model cannot read fails here
        except (*USER_ERRORS, MemoryError) as error:
            message = str(error) if not isinstance(error, MemoryError) else "not enough memory for this image"
            records[number] = {"line": number, "error": message}
            print(printable(f"{prog}: {args.batch.name} line {number}: {message}; skipped"), file=sys.stderr)
            continue
        records[number] = {"line": number, "image": str(image_path)}
        pairs.append((number, image, question, Path(image_path).name))
    chunks = [pairs[part] for part in in_chunks(len(pairs), args.batch_size, "", False)]
    explained = map_chunks(explain_chunk, (args, model), chunks, worker_count(args.workers, len(pairs)))
    for _, done in zip(in_chunks(len(pairs), args.batch_size, "explain", show=bool(pairs)), explained):
        for number, record in done:
            records[number].update(record)
    write_text(args.out_dir / RESULTS, "".join(utf8_safe(json.dumps(records[number], ensure_ascii=False)) + "\n"
                                              for number, _ in lines))
    failed = len(lines) - len(pairs)
    print(f"explained {len(pairs)} of {len(lines)} pairs into {args.out_dir}/ ({RESULTS} and one figure each)"
          + (f"; {failed} failed, reported above" if failed else ""))
    return 1 if failed else 0


def explain_chunk(job, chunk):
    """Explain one chunk of ``(line number, image, question, image name)`` and save each figure; the records
    ``[(line number, what results.jsonl says)]`` (in a worker process of :mod:`hadamard_min.parallel`, or here)."""
    args, model = job
    results = explain_pairs(args, model, [image for _, image, _, _ in chunk], [q for _, _, q, _ in chunk])
    records = []
    for (number, _, _, name), result in zip(chunk, results):
        figure = f"{number:04d}.png"
        save_figure(args.out_dir / figure, result, name, args.outlier_perc)
        records.append((number, {**result.to_json(), "figure": figure}))
    return records


def read_lines(path):
    """``[(line number, bytes)]`` of the non-blank lines (the file at most ``MAX_TEXT_BYTES``, each line decoded
    on its own: one that is not UTF-8 fails alone); the file must exist and hold at least one line."""
    lines = byte_lines(path)
    if not lines:
        raise UsageError(f"{path} holds no lines to explain")
    return lines


def parse_line(line, folder):
    """``(image path, question)`` of one JSON line (bytes); a relative image path is taken from ``folder``."""
    pair = parse_json(line, "this line", "text")  # UTF-8, and bounded: depth, size, huge integers
    if not isinstance(pair, dict):
        raise UsageError(f'not a JSON object {{"image": …, "question": …}} but {type(pair).__name__}')
    for key in ("image", "question"):
        if not isinstance(pair.get(key), str) or not pair[key].strip():
            raise UsageError(f'"{key}" is missing or not a non-empty string')
    return folder / pair["image"], pair["question"]


def prepare_folder(folder):
    """Create ``folder`` (its parent must exist); an existing one must be empty: nothing is overwritten."""
    if folder.exists() and not folder.is_dir():
        raise FileExistsError(f"--out-dir {folder} is a file: choose a folder name")
    if folder.is_dir() and any(folder.iterdir()):
        raise FileExistsError(f"--out-dir {folder} is not empty; choose a new folder")
    if not folder.resolve().parent.is_dir():
        raise FileNotFoundError(f"output folder does not exist: {folder.resolve().parent} (create it first)")
    folder.mkdir(exist_ok=True)
