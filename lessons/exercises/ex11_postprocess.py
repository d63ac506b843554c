"""Exercise 11: from raw gradients to what a person sees, eq. 9-11.

    eq. 9   ∇̂v(i,j) = (∇v(i,j) − μ(∇v)) / σ(∇v)            ∇v (3, H, W): every channel value of every pixel
    eq. 10  ∇̂q(i)   = Σ_d |∇q(i,d)|                         ∇q (ρ, D): one score per token
    eq. 11  z_i     = (∇̂q(i) − μ(∇̂q)) / σ(∇̂q)               the scores as z-scores over the question

μ and σ are the mean and the population standard deviation (NumPy's ``std``). In eq. 9 they are taken over
the whole gradient, all channels and pixels at once: eq. 9 writes μ(∇v) with no channel index, and the
authors' code did this, although the paper's text says "normalized (channel-wise)". When σ = 0 (nothing
stands out: a constant gradient, a one-word question) return zeros.

Check:  python -m pytest lessons/exercises/test_ex11_postprocess.py
"""
import numpy  # noqa: F401  (you will need it)


def normalise_pixel_map(grad_v):
    """eq. 9: (∇v − μ) / σ with one μ and σ over the whole (3, H, W) gradient; zeros when σ = 0."""
    raise NotImplementedError("exercise 11: normalise_pixel_map — (g − g.mean()) / g.std(), zeros if std is 0")


def token_scores(grad_q):
    """eq. 10: Σ_d |∇q(i, d)| for each token, from ∇q (ρ, D)."""
    raise NotImplementedError("exercise 11: token_scores — the sum of |∇q| over the word-vector axis")


def token_z_scores(scores):
    """eq. 11: (s − μ) / σ over the question's tokens; zeros when σ = 0."""
    raise NotImplementedError("exercise 11: token_z_scores — (s − s.mean()) / s.std(), zeros if std is 0")
