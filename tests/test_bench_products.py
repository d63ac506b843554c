"""``hadamard-bench --profile``'s "products ms": the products noted are the ones each op multiplies."""
import math

import numpy
import pytest

from hadamard_min import Tensor
from hadamard_min.cli.bench_products import time_products
from hadamard_min.cli.bench_profile import OpProfile, profile_passes
from hadamard_min.fast import winograd
from hadamard_min.fast.phases import PhaseConv2d
from hadamard_min.ops.conv import Conv2d

O, C = 6, 4  # unequal, so that a product noted with (O, C) swapped shows


def product_flops(product):
    """2·M·K·N for every matrix product of the broadcast batch."""
    a_shape, _, b_shape, _ = product
    m, k = a_shape[-2:]
    batch = math.prod(numpy.broadcast_shapes(a_shape[:-2], b_shape[:-2]))
    return 2 * batch * m * k * b_shape[-1]


def _pass(op, x, *weights, **params):
    """op forward, and its input gradient backward (the weights need none, as in a frozen layer)."""
    op.apply(Tensor(x, requires_grad=True), *(Tensor(w) for w in weights), **params).sum().backward()


def _profiled(op, x, *weights, **params):
    with OpProfile() as profile:
        _pass(op, x, *weights, **params)
    return profile


def _check(profile, label, operand_forward, operand_backward, transposed_backward):
    """Each direction's product: A is the op's own operand (A transposed backward where the op reads Wᵀ), its
    depth that of B, and the FLOPs those the profile counts for the row."""
    for direction, operand, transposed in (("forward", operand_forward, False),
                                           ("backward", operand_backward, transposed_backward)):
        listed = profile.products[(label, direction)]
        assert listed and all(a == operand and t == transposed for a, t, _, _ in listed)
        assert all(a_shape[-1] == b_shape[-2] for a_shape, _, b_shape, _ in listed)
        assert sum(product_flops(p) for p in listed) == profile.rows[(label, direction)][2]


@pytest.mark.parametrize("tile", [2, 4])
def test_winograd_products_are_u_by_the_tiles(tile):
    rng = numpy.random.default_rng(0)
    weight = rng.standard_normal((O, C, 3, 3))
    turned = winograd.turned_filters(weight, tile) if tile == 4 else None
    profile = _profiled(winograd.WinogradConv2d, rng.standard_normal((2, C, 10, 9)),
                           u=winograd.filters(weight, tile), turned=turned, bias=None)
    k = (tile + 2) ** 2
    # backward F(2×2) multiplies by a transposed view of U (k, O, C); F(4×4) by U′, its own (k, C, O) array
    _check(profile, f"WinogradConv2d F({tile}×{tile}, 3×3)", (k, 1, O, C), (k, 1, C, O), tile == 2)


@pytest.mark.parametrize(("kernel", "stride", "padding"), [(1, 1, 0), (1, 2, 0), (3, 2, 1), (3, 1, 1)])
def test_convolution_products_are_w_by_the_columns(kernel, stride, padding):
    rng = numpy.random.default_rng(1)
    x, weight = rng.standard_normal((3, C, 9, 8)), rng.standard_normal((O, C, kernel, kernel))
    profile = _profiled(Conv2d, x, weight, stride=stride, padding=padding)
    depth = C * kernel * kernel
    _check(profile, f"Conv2d {kernel}×{kernel}/{stride}", (1, O, depth), (1, depth, O), True)


def test_phase_convolution_products_run_over_the_extended_grid():
    """Over phase planes the columns are out_h·width long, width = out_w + (k − 1) div s: more FLOPs than the
    profile's count of the real outputs, by width / out_w."""
    rng = numpy.random.default_rng(2)
    x, weight = rng.standard_normal((2, C, 11, 10)), rng.standard_normal((O, C, 3, 3))
    profile = _profiled(PhaseConv2d, x, weight, stride=2, padding=1)
    for direction in ("forward", "backward"):
        listed = profile.products[("PhaseConv2d 3×3/2", direction)]
        assert sum(b[0] for _, _, b, _ in listed) == 2  # every image, in slices
        out_h, out_w, width = 6, 5, 6
        assert all(b[-1] == out_h * width for _, _, b, _ in listed)
        counted = profile.rows[("PhaseConv2d 3×3/2", direction)][2]
        assert sum(product_flops(p) for p in listed) * out_w == counted * width


def test_each_distinct_product_is_timed_once():
    found = [((2, 1, 8, 5), False, (2, 3, 5, 7), "<f4"), ((2, 1, 5, 8), True, (2, 3, 8, 7), "<f4")] * 3
    seconds = time_products(found, repeats=2)
    assert set(seconds) == set(found) and all(s > 0 for s in seconds.values())


def test_profile_rows_carry_their_products_time():
    rng = numpy.random.default_rng(3)
    x, weight = rng.standard_normal((1, C, 12, 12)), rng.standard_normal((O, C, 3, 3))

    result = profile_passes(lambda: _pass(Conv2d, x, weight, stride=1, padding=1), 2, warm_passes=1)
    by_label = {(row[0], row[1]): row for row in result["rows"]}
    assert by_label[("Conv2d 3×3/1", "forward")][7] > 0 and by_label[("Sum", "forward")][7] == 0


@pytest.mark.parametrize("op", [Conv2d, PhaseConv2d])
def test_a_backward_without_an_input_gradient_notes_no_product(op):
    """x wants no gradient (the weight does): backward multiplies no Wᵀ @ dy, so none is timed for the row."""
    rng = numpy.random.default_rng(4)
    x, weight = rng.standard_normal((2, C, 11, 10)), Tensor(rng.standard_normal((O, C, 3, 3)), requires_grad=True)
    with OpProfile() as profile:
        op.apply(Tensor(x), weight, stride=2, padding=1).sum().backward()
    assert profile.products[(f"{op.__name__} 3×3/2", "forward")]
    assert profile.products[(f"{op.__name__} 3×3/2", "backward")] == []
