"""``Explanation``: one (image, question) pair explained, every array as NumPy.

The image is kept as the user gave it (``image``, H × W); the network saw ``input_image`` (S × S), made
from it as ``framing`` says (stretched, padded or cropped: :mod:`explain.framing`). The maps live where they
were computed, on the network's grid (∇v, pixel_map, heatmap: S × S; α: S' × S'); ``e.at_image(map)``
brings any of them back to the image's size (bilinear, float32), as the figures and ``hm.overlay`` do.
"""
import math
import numbers
from dataclasses import dataclass, field

import numpy

from hadamard_min.explain import saved
from hadamard_min.explain.arguments import ExplainArgumentError, shown
from hadamard_min.explain.framing import Framing, checked_map, to_image


@dataclass(repr=False, eq=False)
class Explanation:
    """One (image, question) pair explained. Arrays are NumPy, float64 unless said otherwise. Two are equal
    (``==``) when every field is: arrays by value and dtype, NaN where NaN is (a saved one loads equal)."""
    question: str
    tokens: list            # the question's ρ tokens (unknown words included)
    answer: str             # â of eq. 8
    probability: float      # p(â | q, F) of eq. 7
    top_k: list             # [(answer, probability)], most probable first
    token_scores: object    # (ρ,)   eq. 10
    token_z: object         # (ρ,)   eq. 11
    grad_v: object          # (3, S, S)  ∇v of eq. 2, raw (model dtype); a baseline's ∂y/∂I or None
    grad_q: object          # (ρ, D)     ∇q of eq. 3 at the real tokens, raw (model dtype); ∂y/∂q or None
    pixel_map: object       # (3, S, S)  ∇̂v of eq. 9 (None where grad_v is None)
    heatmap: object         # (S, S)     Σ_c |∇v| scaled to [0, 1] (gradient_heatmap)
    alpha: object           # (G, S', S') the attention maps of eq. 4
    image: object           # uint8 (H, W, 3), the image as the user gave it
    unknown_words: list = field(default_factory=list)  # tokens read as <unk>
    options: dict = field(default_factory=dict)        # fix_f, sign, guided, top_k
    method: str = "hadamard"                           # or a baseline of explain.methods
    target: str = None                                 # the answer a gradient baseline explains
    input_image: object = None                         # uint8 (S, S, 3), what the network saw (default: image)
    framing: Framing = None                            # image → input_image (default: the whole image)

    def __post_init__(self):
        if self.input_image is None:
            self.input_image = self.image
        if self.framing is None:
            self.framing = Framing.whole(*self.image.shape[:2], self.input_image.shape[0])

    def at_image(self, values, size=None):
        """A map on the network's grid ((h, w) or (C, h, w): ``heatmap``, ``pixel_map``, ``alpha[g]``) at the
        image's own size (H, W), or at ``size``: float32, bilinear (:func:`framing.to_image`)."""
        if not isinstance(self.framing, Framing):
            raise ExplainArgumentError(f"the explanation's framing must be a Framing, not {shown(self.framing)}: "
                                       f"it places the maps on the image (was it changed after hm.explain?)")
        values, size = checked_map(values, size)
        return to_image(values, self.framing, size)

    def __eq__(self, other):
        if not isinstance(other, Explanation):
            return NotImplemented
        return all(_same(getattr(self, name), getattr(other, name)) for name in self.__dataclass_fields__)

    def __repr__(self):
        """One line that never fails, whatever was set by hand: a notebook shows it where the figure cannot be
        drawn (a field it cannot read shows as given: ``p = 'x'``, ``image ?``)."""
        p = self.probability
        p = f"{p:.3f}" if isinstance(p, numbers.Real) else shown(p)
        shape = numpy.shape(self.image) if isinstance(self.image, numpy.ndarray) else ()
        image = f"{shape[1]}×{shape[0]}" if len(shape) >= 2 else "?"
        side = self.framing.input_size if isinstance(self.framing, Framing) else "?"
        target = "" if self.target is None else f", explaining {self.target!r}"
        return (f"Explanation({self.method}{target}: {self.question!r} → {self.answer!r} (p = {p}); "
                f"image {image}, the model saw {side}×{side})")

    def to_json(self):
        """The non-image parts as plain JSON types (the arrays ∇v, ∇q, maps and image are left out); an
        explanation whose fields do not fit together (changed by hand) raises ExplainArgumentError."""
        saved.check_fields(self, "written as JSON")
        return {"question": self.question, "tokens": list(self.tokens), "answer": self.answer,
                "probability": float(self.probability),
                "top_k": [{"answer": a, "probability": float(p)} for a, p in self.top_k],
                "token_scores": [_number(s) for s in self.token_scores],
                "token_z": [_number(z) for z in self.token_z], "method": self.method, "target": self.target,
                "unknown_words": list(self.unknown_words), "options": dict(self.options),
                "alpha": numpy.asarray(self.alpha, dtype=numpy.float64).tolist(), "framing": self.framing.to_json(),
                "shapes": {name: list(getattr(self, name).shape) for name in ("grad_v", "grad_q")
                           if getattr(self, name) is not None}}

    def save(self, path):
        """Write every array and field to ``path`` (.npz, atomically): :mod:`explain.saved`."""
        return saved.save_explanation(self, path)

    @classmethod
    def load(cls, path):
        """The Explanation that :meth:`save` wrote to ``path``."""
        return cls(**saved.load_explanation_fields(path))

    def _repr_mimebundle_(self, include=None, exclude=None):
        """A notebook's view, drawn once: the figure (PNG), the coloured question above it (HTML), the
        one-line repr as text. One that cannot be drawn (changed by hand) is its line and why, as text: raised
        here, IPython would show the error once for this view and again for each it then tries, which give
        None (:meth:`_repr_png_`, :meth:`_repr_html_`); :func:`plot_explanation` raises it."""
        views = self._views()
        if isinstance(views, str):
            return {"text/plain": f"{self!r}\nnot drawn: {views}"}
        png, html = views
        return {"image/png": png, "text/html": html, "text/plain": repr(self)}

    def _repr_png_(self):
        views = self._views()
        return None if isinstance(views, str) else views[0]

    def _repr_html_(self):
        views = self._views()
        return None if isinstance(views, str) else views[1]

    def _views(self):
        """(PNG bytes, HTML) of the notebook's view, or why it cannot be drawn, in words."""
        from hadamard_min.explain import figure, notebook
        from hadamard_min.explain.maps import FigureInputError

        try:
            png = figure.figure_png(notebook.plot_explanation(self), figure.NOTEBOOK_DPI)
            return png, notebook.html_view(self, png)
        except (ExplainArgumentError, FigureInputError) as error:
            return str(error)


def _number(value):
    """A float for JSON: NaN (a method without token scores) becomes None."""
    value = float(value)
    return value if math.isfinite(value) else None


def _same(a, b):
    """Field equality: arrays of one dtype and equal values (NaN equal to NaN), anything else by ``==``."""
    if isinstance(a, numpy.ndarray) or isinstance(b, numpy.ndarray):
        a, b = numpy.asarray(a), numpy.asarray(b)
        return a.dtype == b.dtype and numpy.array_equal(a, b, equal_nan=a.dtype.kind in "fc")
    return bool(a == b)
