"""Images of several frames (animated GIF, PNG, WebP; multi-page TIFF): one frame is explained, and the user is told.

They were explained from their first frame without a word: a user who meant another page or moment read an
explanation of a picture they had not chosen. Each test here failed so (no warning, no note, no record).
"""
import json
import warnings

import numpy
import pytest
from PIL import Image
from references import tiny_float64_model

import hadamard_min as hm
from hadamard_min.cli.explain import main as explain_main
from hadamard_min.data.folder import load_folder
from hadamard_min.data.frames import FramesWarning
from hadamard_min.data.images import load_image, load_mask

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
KINDS = {"gif": {}, "png": {}, "tif": {}, "webp": {"lossless": True}}


def frames_file(folder, name, kind="gif", size=(24, 16)):
    """A file of three frames of one colour each (frame k: COLOURS[k]), with a dot so that frames differ in shape."""
    pictures = [Image.new("RGB", size, colour) for colour in COLOURS]
    for k, picture in enumerate(pictures):
        picture.putpixel((k, k), (255, 255, 0))
    path = folder / f"{name}.{kind}"
    pictures[0].save(path, save_all=True, append_images=pictures[1:], **KINDS[kind])
    return path


def frame_pixels(path, k):
    with Image.open(path) as img:
        img.seek(k)
        return numpy.asarray(img.convert("RGB"))


def frames_warnings(read, *args):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = read(*args)
    return result, [str(w.message) for w in caught if issubclass(w.category, FramesWarning)]


@pytest.mark.parametrize("kind", KINDS)
def test_a_file_of_frames_is_its_first_frame_and_says_so(tmp_path, kind):
    if kind == "webp" and "WEBP" not in Image.SAVE:
        pytest.skip("this Pillow writes no WebP")
    path = frames_file(tmp_path, "moving", kind)
    pixels, said = frames_warnings(load_image, path)
    assert said == [f"image {path} has 3 frames (an animation or a multi-page file); the first is explained"]
    numpy.testing.assert_array_equal(pixels, frame_pixels(path, 0))
    assert not numpy.array_equal(pixels, frame_pixels(path, 1))


def test_one_picture_says_nothing_nor_does_a_cameras_jpeg_of_previews(tmp_path):
    """A camera's JPEG (MPO) holds previews or a depth map after the photo: no frames a user chose among. The
    animated GIF beside them is noted."""
    single, camera = tmp_path / "one.png", tmp_path / "camera.jpg"
    Image.new("RGB", (8, 8), COLOURS[0]).save(single)
    Image.new("RGB", (8, 8), COLOURS[0]).save(camera, "MPO", save_all=True,
                                               append_images=[Image.new("RGB", (4, 4), COLOURS[1])])
    assert Image.open(camera).n_frames == 2
    assert frames_warnings(load_image, single)[1] == [] and frames_warnings(load_image, camera)[1] == []
    assert len(frames_warnings(load_image, frames_file(tmp_path, "moving"))[1]) == 1


def test_a_transparent_palette_first_frame_goes_on_white(tmp_path):
    """A GIF's first frame is a palette with a transparent index (its next frames Pillow reads as RGBA): the
    transparent pixels are white, as on their own, and it is said that the frame is one of two."""
    first, second = Image.new("P", (4, 3), 1), Image.new("P", (4, 3), 2)
    for picture in (first, second):
        picture.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0] + [0] * 759)
    first.putpixel((0, 0), 0)
    path = tmp_path / "clear.gif"
    first.save(path, save_all=True, append_images=[second], transparency=0, disposal=2)
    pixels, said = frames_warnings(load_image, path)
    assert len(said) == 1 and "has 2 frames" in said[0]
    assert pixels[0, 0].tolist() == [255, 255, 255] and pixels[0, 1].tolist() == [255, 0, 0]
    assert (pixels[1:] == [255, 0, 0]).all()


def test_a_pil_image_is_its_current_frame_named_by_number(tmp_path):
    path = frames_file(tmp_path, "moving", "tif")
    with Image.open(path) as img:
        img.seek(2)
        pixels, said = frames_warnings(load_image, img)
    assert said == [f"image {path} has 3 frames (an animation or a multi-page file); frame 3, where the PIL image "
                    f"stands (image.seek), is explained"]
    numpy.testing.assert_array_equal(pixels, frame_pixels(path, 2))


def test_a_mask_of_frames_is_its_first_frame_and_says_so(tmp_path):
    path = frames_file(tmp_path, "mask", "png")
    mask, said = frames_warnings(load_mask, path)
    assert said == [f"mask {path} has 3 frames (an animation or a multi-page file); the first is read"]
    assert mask.shape == (16, 24) and mask.all()


def test_the_notebook_warns_once_at_the_users_line(tmp_path):
    """``hm.explain`` in a notebook: a normal Python warning, attributed to the caller's line (this file), once."""
    path = frames_file(tmp_path, "moving")
    with pytest.warns(FramesWarning, match="has 3 frames") as caught:
        e = hm.explain(tiny_float64_model(), path, "what color is the circle?")
    assert len(caught) == 1 and caught[0].filename == __file__
    numpy.testing.assert_array_equal(e.image, frame_pixels(path, 0))


def frames_lines(err):
    return [line for line in err.splitlines() if "frames" in line]


def test_the_command_prints_one_note_line_and_succeeds(tmp_path, capsys):
    path = frames_file(tmp_path, "moving", size=(64, 64))
    assert explain_main(["--image", str(path), "--question", "what color is the shape?", "--out",
                         str(tmp_path / "e.png"), "--json", str(tmp_path / "e.json")]) == 0
    err = capsys.readouterr().err
    assert frames_lines(err) == [f"note: image {path} has 3 frames (an animation or a multi-page file); the first "
                                 f"is explained"]
    assert "Warning" not in err and ".py:" not in err


def test_a_batch_notes_each_line_of_frames_in_its_record_and_on_stderr(tmp_path, capsys):
    moving, still = frames_file(tmp_path, "moving", size=(64, 64)), tmp_path / "still.png"
    Image.new("RGB", (64, 64), COLOURS[0]).save(still)
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps({"image": image.name, "question": "what color is the shape?"}) + "\n"
                             for image in (moving, still, moving)))
    assert explain_main(["--batch", str(pairs), "--out-dir", str(tmp_path / "out"), "--batch-size", "2"]) == 0
    lines = frames_lines(capsys.readouterr().err)
    assert [line.split(": image")[0] for line in lines] == ["note: pairs.jsonl line 1", "note: pairs.jsonl line 3"]
    records = [json.loads(line) for line in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    assert ["note" in record for record in records] == [True, False, True]
    assert records[0]["note"].endswith("has 3 frames (an animation or a multi-page file); the first is explained")


def test_a_folder_of_animations_is_one_note_not_one_per_image_or_read(tmp_path):
    """``hadamard-evaluate --data DIR``: one note for the folder (each image is read at the check and again when
    evaluated; a note per read would flood stderr), naming how many and the first few."""
    names = [f"a{k}" for k in range(5)]
    for name in names:
        frames_file(tmp_path, name)
    (tmp_path / "masks").mkdir()
    frames_file(tmp_path / "masks", "a0", "png")
    Image.new("RGB", (24, 16), COLOURS[0]).save(tmp_path / "still.png")
    (tmp_path / "questions.jsonl").write_text("".join(json.dumps({"image": f"{name}.gif", "question": "what is it?"})
                                                      + "\n" for name in [*names, "still"][:-1])
                                              + json.dumps({"image": "still.png", "question": "what is it?"}) + "\n")
    data, said = frames_warnings(load_folder, tmp_path)
    assert said == [f"6 of the 7 images and masks in {tmp_path} have several frames (an animation or a multi-page "
                    f"file): the first frame of each is read (a0.gif, masks/a0.png, a1.gif, …)"]
    pixels, again = frames_warnings(lambda: (data.images[0], data.masks[0]))
    assert again == []
    numpy.testing.assert_array_equal(pixels[0], frame_pixels(tmp_path / "a0.gif", 0))
