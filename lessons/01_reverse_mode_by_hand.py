"""Lesson 1: reverse-mode differentiation by hand, with plain Python floats.

We differentiate one small expression,

    f(a, b, c) = (a·b + c) · tanh(a),

in two ways. First *reverse mode*: evaluate f forward, remembering every intermediate value, then
walk the steps backward, carrying the *adjoint* x̄ = ∂f/∂x of each value. Every step uses only its
own local derivative (the chain rule), and a value used twice (here ``a``) adds up both adjoints.
Then *central differences*: (f(x + h) − f(x − h)) / 2h, the numerical check we will use on every
op of the engine. Run:  python lessons/01_reverse_mode_by_hand.py
"""
import argparse
import math

BAR = "\u0304"  # the combining macron of x̄, "the adjoint of x"


def f(a, b, c):
    return (a * b + c) * math.tanh(a)


def forward(a, b, c):
    """The forward pass as named steps (a Wengert list): each line is one primitive op."""
    u = a * b          # u = a·b
    v = u + c          # v = u + c
    w = math.tanh(a)   # w = tanh a
    out = v * w        # f = v·w
    return {"a": a, "b": b, "c": c, "u": u, "v": v, "w": w, "f": out}


def reverse(values):
    """Walk the steps of ``forward`` backward. Each adjoint is printed as it is computed."""
    a, b, v, w = values["a"], values["b"], values["v"], values["w"]
    adjoint = {"f": 1.0}                                   # ∂f/∂f = 1
    steps = [
        ("v", "f = v·w    → v̄ = f̄·w", lambda: adjoint["f"] * w),
        ("w", "f = v·w    → w̄ = f̄·v", lambda: adjoint["f"] * v),
        ("u", "v = u + c  → ū = v̄", lambda: adjoint["v"]),
        ("c", "v = u + c  → c̄ = v̄", lambda: adjoint["v"]),
        ("b", "u = a·b    → b̄ = ū·a", lambda: adjoint["u"] * a),
        ("a", "u = a·b    → ā = ū·b          (first use of a)", lambda: adjoint["u"] * b),
        ("a", "w = tanh a → ā += w̄·(1 − w²)  (second use of a)", lambda: adjoint["w"] * (1 - w * w)),
    ]
    print("reverse mode, from the output back (f̄ = 1):")
    for name, rule, local in steps:
        adjoint[name] = adjoint.get(name, 0.0) + local()    # += : a value used twice sums its adjoints
        padding = " " * (52 - len(rule.replace(BAR, "")))  # the combining bar takes no column
        print(f"  {rule}{padding}{name}{BAR} = {adjoint[name]: .10f}")
    return adjoint


def central_difference(fn, args, index, h=1e-6):
    """∂fn/∂args[index] ≈ (fn(x + h) − fn(x − h)) / 2h: error O(h²) from truncation, O(ε/h) from rounding."""
    plus, minus = list(args), list(args)
    plus[index] += h
    minus[index] -= h
    return (fn(*plus) - fn(*minus)) / (2 * h)


def step_size_table(args, exact):
    """Why h = 1e-6: too large and the h² term dominates, too small and rounding does."""
    print("\nchoosing h for ∂f/∂a (float64):")
    print(f"  {'h':>8}  {'forward diff error':>19}  {'central diff error':>19}")
    for h in (1e-1, 1e-3, 1e-6, 1e-9, 1e-12):
        plus = list(args)
        plus[0] += h
        forward_error = abs((f(*plus) - f(*args)) / h - exact)
        central_error = abs(central_difference(f, args, 0, h) - exact)
        print(f"  {h:8.0e}  {forward_error:19.3e}  {central_error:19.3e}")


def main(argv=None):
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)  # no options: refuse unknown ones
    args = (0.7, -1.3, 0.4)
    values = forward(*args)
    print("forward pass:")
    for name in ("a", "b", "c", "u", "v", "w", "f"):
        print(f"  {name} = {values[name]: .10f}")
    print()
    adjoint = reverse(values)
    step_size_table(args, adjoint["a"])

    print("\nreverse mode against central differences (h = 1e-6):")
    print(f"  {'input':<6} {'reverse mode':>16} {'central diff':>16} {'|difference|':>14}")
    worst = 0.0
    for index, name in enumerate("abc"):
        numeric = central_difference(f, args, index)
        worst = max(worst, abs(adjoint[name] - numeric))
        print(f"  {name:<6} {adjoint[name]:16.10f} {numeric:16.10f} {abs(adjoint[name] - numeric):14.3e}")
    if worst > 1e-8:
        raise SystemExit(f"reverse mode and central differences disagree by {worst:.3e}")
    print("agree to within 1e-8: one backward pass gave all three derivatives, the check needed six f calls.")


if __name__ == "__main__":
    main()
