"""Images of several frames (an animated GIF, PNG or WebP, a multi-page TIFF): one is explained, and the user is told.

A model explains one picture. A file of many was explained from its first frame without a word, so a user who
meant the tenth page of a scan, or a moment of an animation, read an explanation of another picture as theirs.
:func:`first_frame` puts an opened file on its first frame and counts its frames; :func:`warn` says, once
per read, which frame was explained, as a :class:`FramesWarning`: a normal Python warning in a notebook, one
``note:`` line on stderr from a command (``cli.errors.run``). A camera's JPEG (MPO) holds a second picture too
(a preview, a depth map), not a frame the user chose among: it is read as one picture, without a note.
"""
import os
import sys
import warnings

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
NOT_FRAMES = ("MPO",)  # formats whose further images are no frames: a camera's previews and depth maps


class FramesWarning(UserWarning):
    """An image holds more than one frame and one of them, named in the message, is what is explained."""


def frame_count(img):
    """How many frames the opened image holds (1 when it says none, or cannot count them: its first is read)."""
    if img.format in NOT_FRAMES:
        return 1
    try:
        count = getattr(img, "n_frames", 1)
    except Exception:  # a damaged frame table after a good first frame: that frame is still the picture
        return 1
    return count if isinstance(count, int) and count > 1 else 1


def first_frame(img, name, mask=False):
    """Put the opened file ``img`` (named ``name``) on its first frame, where counting may have left it on another;
    the note that says so when it has others (None for one frame)."""
    count = frame_count(img)
    if count > 1 and img.tell() != 0:
        img.seek(0)
    return note(name, count, what="mask" if mask else "image", verb="read" if mask else "explained")


def note(name, count, index=0, what="image", verb="explained"):
    """The one line that says which of ``count`` frames is used, or None for a single frame."""
    if count <= 1:
        return None
    used = "the first" if index == 0 else f"frame {index + 1}, where the PIL image stands (image.seek),"
    return f"{what} {name} has {count} frames (an animation or a multi-page file); {used} is {verb}"


def warn(message):
    """Issue ``message`` as a :class:`FramesWarning` attributed to the first caller outside the package (the
    notebook cell or script that asked for the image), so that Python's filters see the user's line."""
    if message is None:
        return
    frame, level = sys._getframe(0), 1
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, FramesWarning, stacklevel=level)
