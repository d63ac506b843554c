"""Adam and gradient clipping: the update rule by hand and against torch.optim.Adam."""
import numpy

from hadamard_min.nn.module import Parameter
from hadamard_min.nn.optim import Adam, clip_grad_norm


def test_adam_first_steps_match_the_update_rule(rng):
    theta0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(3)]
    p = Parameter(theta0.copy())
    adam = Adam([p], lr=0.1, betas=(0.9, 0.99), eps=1e-8)
    m = v = numpy.zeros(5)
    theta = theta0.copy()
    for t, g in enumerate(grads, 1):
        p.grad = g.copy()
        adam.step()
        m = 0.9 * m + 0.1 * g
        v = 0.99 * v + 0.01 * g * g
        theta = theta - 0.1 * (m / (1 - 0.9 ** t)) / (numpy.sqrt(v / (1 - 0.99 ** t)) + 1e-8)
        numpy.testing.assert_allclose(p.data, theta, rtol=1e-12)


def test_adam_matches_torch(torch, rng):
    w0 = rng.standard_normal((4, 3)).astype(numpy.float32)
    p = Parameter(w0.copy())
    tp = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))  # the reference in float64
    ours, theirs = Adam([p], lr=0.01), torch.optim.Adam([tp], lr=0.01)
    for _ in range(5):
        g = rng.standard_normal((4, 3)).astype(numpy.float32)
        p.grad, tp.grad = g.copy(), torch.tensor(g, dtype=torch.float64)
        ours.step()
        theirs.step()
    numpy.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_adam_state_round_trip_resumes_identically(rng):
    params = [Parameter(rng.standard_normal(3)) for _ in range(2)]
    adam = Adam(params, lr=0.05)
    for p in params:
        p.grad = numpy.ones(3)
    adam.step()
    copy = [Parameter(p.data.copy()) for p in params]
    resumed = Adam(copy, lr=0.05)
    resumed.load_state(adam.state())
    for p in params + copy:
        p.grad = numpy.full(3, 0.5)
    adam.step()
    resumed.step()
    for a, b in zip(params, copy):
        numpy.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_clip_grad_norm_scales_to_the_limit_and_leaves_small_ones():
    a, b = Parameter(numpy.zeros(2)), Parameter(numpy.zeros(1))
    a.grad, b.grad = numpy.array([3.0, 0.0]), numpy.array([4.0])
    assert clip_grad_norm([a, b], 1.0) == 5.0
    numpy.testing.assert_allclose(numpy.sqrt((a.grad ** 2).sum() + (b.grad ** 2).sum()), 1.0, rtol=1e-6)
    a.grad = numpy.array([0.3, 0.0])
    b.grad = numpy.array([0.4])
    clip_grad_norm([a, b], 1.0)
    numpy.testing.assert_allclose(a.grad, [0.3, 0.0])


def test_clip_does_not_scale_a_shared_gradient_array_twice():
    shared = numpy.array([6.0, 8.0])
    a, b = Parameter(numpy.zeros(2)), Parameter(numpy.zeros(2))
    a.grad = b.grad = shared
    clip_grad_norm([a, b], 1.0)
    numpy.testing.assert_allclose(a.grad, b.grad)
    numpy.testing.assert_allclose(a.grad, shared / (numpy.sqrt(200.0) + 1e-6))


def test_a_checkpoint_at_adams_own_worst_case_first_moment_is_resumed(rng):
    """Gradients growing by β₂/β₁ each step drive m²/v to its bound (1 − β₁)²/((1 − β₂)(1 − β₁²/β₂)), 52.857 for
    the default betas; the state they leave, in float32 and float64, is accepted on resume, as are random ones."""
    beta1, beta2 = 0.9, 0.999
    bound = (1 - beta1) ** 2 / ((1 - beta2) * (1 - beta1 ** 2 / beta2))
    for dtype in (numpy.float32, numpy.float64):
        worst, noise = Parameter(numpy.zeros(1, dtype)), Parameter(numpy.zeros(4, dtype))
        adam = Adam([worst, noise])
        for t in range(200):
            worst.grad = numpy.array([1e-12 * (beta2 / beta1) ** t], dtype)
            noise.grad = (rng.standard_normal(4) * 10.0 ** rng.uniform(-30, 15, 4)).astype(dtype)
            adam.step()
        m, v = adam.m[0].astype(numpy.float64), adam.v[0].astype(numpy.float64)
        assert m[0] ** 2 / v[0] > 0.999 * bound  # at the bound, within rounding
        Adam([Parameter(worst.data.copy()), Parameter(noise.data.copy())]).load_state(adam.state())
