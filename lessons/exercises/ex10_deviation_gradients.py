"""Exercise 10: the paper's explanation, eq. 2-3: the deviation gradients, with F fixed and not.

``deviation_gradients(out, I, q, fix_f, guided)`` → (∇v, ∇q), arrays of the shapes of I and q:
    out     the model's output for a batch: Tensors ``out.Q``, ``out.V``, ``out.F`` (B, G·J), eq. 6
    I       the images, a leaf Tensor (B, 3, H, W); ∇v is eq. 2's gradient at I, summed over the batch
    q       the word vectors, a leaf Tensor (B, ρ, D); ∇q is eq. 3's gradient at q
    fix_f   True: F is the paper's "virtual target", a constant; False: F stays a function of the inputs
            (the ablation lesson 06 shows)
    guided  True: eq. 2 with guided backpropagation at every ReLU (exercise 7's rule); False: the gradient

Lesson 06 computes both, step by step; ``relu_rule("guided")`` / ``relu_rule("gradient")`` (a context
manager) picks the rule every ReLU uses in a backward pass run inside it. Think about what each gradient
must not include: V depends on q too (through the attention α of eq. 4), and with F not fixed, Q and V
both reach the image. The sign is the paper's, as eq. 2 and 3 are printed.

Check:  hadamard-exercises grade 10     (in the folder made by ``hadamard-exercises start DIR``)
"""
from hadamard_min.ops.relu import relu_rule  # noqa: F401  (you will need it)


def deviation_gradients(out, I, q, fix_f=True, guided=True):
    """(∇v, ∇q) of eq. 2 and 3, F fixed or not, ∇v guided or not."""
    raise NotImplementedError("exercise 10: write deviation_gradients: (∇v, ∇q) of eq. 2-3 as arrays of the shapes of I"
                              " and q")
