"""Exercise 11: from raw gradients to what a person sees, eq. 9-11.

    eq. 9    normalise_pixel_map(∇v): ∇v (3, H, W) → ∇̂v (3, H, W), what the heat map draws
    eq. 10   token_scores(∇q): ∇q (ρ, D), one word vector's gradient per row → one score per token (ρ,)
    eq. 11   token_z_scores(scores): (ρ,) → (ρ,), the scores as z-scores over the question

Read eq. 9-11 in the paper; lesson 06 runs them on a real explanation. Two things the paper leaves open:
σ is the population standard deviation (NumPy's ``std``); and eq. 9 as printed has no channel index on
μ(∇v) and σ(∇v), while its text says "normalized (channel-wise)": the authors' code followed the equation,
and so does the package. When nothing stands out (all values equal, a one-word question) return zeros;
mind that the σ of equal floats computed in floating point need not be exactly 0.

Check:  hadamard-exercises grade 11     (in the folder made by ``hadamard-exercises start DIR``)
"""
import numpy  # noqa: F401  (you will need it)


def normalise_pixel_map(grad_v):
    """eq. 9: ∇̂v (3, H, W) from ∇v (3, H, W); zeros when nothing stands out."""
    raise NotImplementedError("exercise 11: write normalise_pixel_map: eq. 9's ∇̂v (3, H, W) from ∇v (3, H, W)")


def token_scores(grad_q):
    """eq. 10: one score per token (ρ,) from ∇q (ρ, D)."""
    raise NotImplementedError("exercise 11: write token_scores: eq. 10's score per token (ρ,) from ∇q (ρ, D)")


def token_z_scores(scores):
    """eq. 11: the z-scores (ρ,) of the scores (ρ,) over the question; zeros when nothing stands out."""
    raise NotImplementedError("exercise 11: write token_z_scores: eq. 11's z-scores (ρ,) from the token scores (ρ,)")
