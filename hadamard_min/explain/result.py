"""``Explanation``: one (image, question) pair explained, every array as NumPy."""
from dataclasses import dataclass, field

import numpy


@dataclass
class Explanation:
    """One (image, question) pair explained. Arrays are NumPy, float64 unless said otherwise."""
    question: str
    tokens: list            # the question's ρ tokens (unknown words included)
    answer: str             # â of eq. 8
    probability: float      # p(â | q, F) of eq. 7
    top_k: list             # [(answer, probability)], most probable first
    token_scores: object    # (ρ,)   eq. 10
    token_z: object         # (ρ,)   eq. 11
    grad_v: object          # (3, H, W)  ∇v of eq. 2, raw (model dtype)
    grad_q: object          # (ρ, D)     ∇q of eq. 3 at the real tokens, raw (model dtype)
    pixel_map: object       # (3, H, W)  ∇̂v of eq. 9
    heatmap: object         # (H, W)     Σ_c |∇v| scaled to [0, 1] (gradient_heatmap)
    alpha: object           # (G, S, S)  the attention maps of eq. 4
    image: object           # uint8 (H, W, 3), the image as fed to the network
    unknown_words: list = field(default_factory=list)  # tokens read as <unk>
    options: dict = field(default_factory=dict)        # fix_f, sign, guided, top_k

    def to_json(self):
        """The non-image parts as plain JSON types (the arrays ∇v, ∇q, maps and image are left out)."""
        return {"question": self.question, "tokens": list(self.tokens), "answer": self.answer,
                "probability": float(self.probability),
                "top_k": [{"answer": a, "probability": float(p)} for a, p in self.top_k],
                "token_scores": [float(s) for s in self.token_scores],
                "token_z": [float(z) for z in self.token_z],
                "unknown_words": list(self.unknown_words), "options": dict(self.options),
                "alpha": numpy.asarray(self.alpha, dtype=numpy.float64).tolist(),
                "shapes": {"grad_v": list(self.grad_v.shape), "grad_q": list(self.grad_q.shape)}}
