"""Wrong answers to exercises 8-11: the GRU step, MLB, the deviation gradients of eq. 2-3, eq. 9-11."""
import numpy


# --------------------------------------------------------------------------- exercise 8: the GRU step
def ex08_no_direct_path(ex):
    solved = ex.GRUCell.backward

    def backward(self, dh_new):
        dx, dh = solved(self, dh_new)
        return dx, dh - dh_new * self.saved[2]   # drops dh' ∘ z
    ex.GRUCell.backward = backward


def ex08_dz_sign(ex):
    def backward(self, dh_new):
        w_ih, w_hh, _, _ = self.weights
        h, r, z, g, n = self.saved
        dn, dz, dh = dh_new * (1 - z), dh_new * (n - h), dh_new * z   # n − h for h − n
        da_n = dn * (1 - n * n)
        dr, dg = da_n * g, da_n * r
        da_z, da_r = dz * z * (1 - z), dr * r * (1 - r)
        dx = numpy.concatenate([da_r, da_z, da_n], axis=1) @ w_ih
        return dx, dh + numpy.concatenate([da_r, da_z, dg], axis=1) @ w_hh
    ex.GRUCell.backward = backward


# --------------------------------------------------------------------------- exercise 9: MLB
def _mlb(ex, softmax_axis=1, reshape_for_transpose=False, detach_grid=False, batch_of_one=False):
    ops = ex.ops

    def mlb_forward(mlb, question, features):
        batch, channels, size, _ = features.shape
        if batch_of_one:   # lesson 05's toy, copied: a batch of 1
            batch = 1
        grid = ops.transpose(ops.reshape(features, (batch, channels, size * size)), (0, 2, 1))
        if detach_grid:
            grid = grid.detach()   # the grid cut from the graph: the forward is right, ∇ wrt features is 0
        q_att = ops.tanh(mlb.linear_q_att(question))
        v_att = ops.tanh(mlb.conv_v_att(grid))
        scores = mlb.conv_att(v_att * ops.reshape(q_att, (batch, 1, -1)))
        alpha = ops.softmax(scores, axis=softmax_axis)
        alpha = (ops.reshape(alpha, (batch, mlb.glimpses, size * size)) if reshape_for_transpose
                 else ops.transpose(alpha, (0, 2, 1)))
        attended = ops.matmul(alpha, grid)
        V = ops.concatenate([ops.tanh(linear(attended[:, g])) for g, linear in
                             enumerate(mlb.list_linear_v_fusion)], axis=1)
        Q = ops.tanh(mlb.linear_q_fusion(question))
        F = Q * V
        return ops.reshape(alpha, (batch, mlb.glimpses, size, size)), Q, V, F, mlb.linear_classif(F)
    return mlb_forward


def ex09_softmax_over_glimpses(ex):
    ex.mlb_forward = _mlb(ex, softmax_axis=2)


def ex09_reshape_for_transpose(ex):
    ex.mlb_forward = _mlb(ex, reshape_for_transpose=True)


def ex09_grid_detached(ex):
    ex.mlb_forward = _mlb(ex, detach_grid=True)


def ex09_batch_of_one(ex):
    ex.mlb_forward = _mlb(ex, batch_of_one=True)


# --------------------------------------------------------------------------- exercise 10: eq. 2-3
def _deviation(ex, sign=1.0, one_pass=False, keep_image_grad=False, detach=True, rule_from_guided=True):
    def deviation_gradients(out, I, q, fix_f=True, guided=True):
        F = out.F.detach() if fix_f and detach else out.F
        L_v, L_q = 0.5 * ((out.V - F) ** 2).sum(), 0.5 * ((out.Q - F) ** 2).sum()
        rule = "guided" if guided and rule_from_guided else "gradient"
        if one_pass:
            with ex.relu_rule(rule):
                (L_v + L_q).backward(sign)
            return I.grad, q.grad
        L_q.backward(sign, retain_graph=True)
        grad_q = q.grad
        if not keep_image_grad:
            I.grad = None
        with ex.relu_rule(rule):
            L_v.backward(sign)
        return I.grad, grad_q
    return deviation_gradients


def ex10_sign(ex):
    ex.deviation_gradients = _deviation(ex, sign=-1.0)   # the authors' code's sign


def ex10_one_pass(ex):
    ex.deviation_gradients = _deviation(ex, one_pass=True)


def ex10_image_grad_not_cleared(ex):
    ex.deviation_gradients = _deviation(ex, keep_image_grad=True)


def ex10_f_never_detached(ex):
    ex.deviation_gradients = _deviation(ex, detach=False)


def ex10_always_the_gradient_rule(ex):
    ex.deviation_gradients = _deviation(ex, rule_from_guided=False)


def ex10_tensors_returned(ex):
    """The leaves I and q instead of their gradients: the grader's compare raised a ValueError of its own."""
    right = _deviation(ex)

    def deviation_gradients(out, I, q, fix_f=True, guided=True):
        right(out, I, q, fix_f, guided)
        return I, q
    ex.deviation_gradients = deviation_gradients


# --------------------------------------------------------------------------- exercise 11: eq. 9-11
def ex11_per_channel(ex):
    def normalise_pixel_map(grad_v):
        return (grad_v - grad_v.mean(axis=(1, 2), keepdims=True)) / grad_v.std(axis=(1, 2), keepdims=True)
    ex.normalise_pixel_map = normalise_pixel_map


def _standardised_unless(too_small):
    """(x − μ) / σ, or zeros where ``too_small(σ, x)``: the learner's test for "nothing stands out"."""
    def standardise(values):
        sigma = values.std()
        return numpy.zeros_like(values) if too_small(sigma, values) else (values - values.mean()) / sigma
    return standardise


def ex11_sigma_exactly_zero(ex):
    ex.token_z_scores = _standardised_unless(lambda sigma, values: sigma == 0)


def ex11_sigma_below_a_fixed_number(ex):
    """σ < 10⁻¹²: right for equal values near 1, not for those near 10⁶ (rounding noise of 10⁻¹⁰): it passed."""
    ex.token_z_scores = _standardised_unless(lambda sigma, values: sigma < 1e-12)


def ex11_sigma_below_a_larger_number(ex):
    """σ < 10⁻⁹: a real spread in small units (gradients of 10⁻¹¹) is taken for none; it passed."""
    ex.normalise_pixel_map = _standardised_unless(lambda sigma, values: sigma < 1e-9)


def ex11_largest_value_not_absolute(ex):
    """σ ≤ 10⁻¹² max x, not max |x|: for a negative constant ∇v the bound is negative, σ's noise is divided by;
    no constant the grader tried was negative."""
    ex.normalise_pixel_map = _standardised_unless(lambda sigma, values: sigma <= 1e-12 * values.max())


def ex11_epsilon_in_the_denominator(ex):
    """(x − μ) / (σ + 10⁻⁸), as against a division by zero in training code: wrong wherever σ is small."""
    ex.token_z_scores = lambda scores: (scores - scores.mean()) / (scores.std() + 1e-8)


def ex11_float32_scores(ex):
    """The right scores in float32: it passed, float32's rounding being below the grader's tolerance."""
    ex.token_scores = lambda grad_q: numpy.abs(grad_q).sum(axis=1).astype(numpy.float32)


def ex11_sample_std(ex):
    def token_z_scores(scores):
        sigma = scores.std(ddof=1) if len(scores) > 1 else 0.0
        return numpy.zeros_like(scores) if sigma == 0 else (scores - scores.mean()) / sigma
    ex.token_z_scores = token_z_scores


def ex11_squares_for_absolute_values(ex):
    ex.token_scores = lambda grad_q: (numpy.asarray(grad_q) ** 2).sum(axis=1)


def ex11_normalised_in_place(ex):
    """Right values, but ∇v itself overwritten: the explanation then kept eq. 9's map as its ∇v (the capstone
    showed max |Δ∇v| / max |∇v| = 33 with nothing said), and the grader passed it."""
    def normalise_pixel_map(grad_v):
        grad_v -= grad_v.mean()
        grad_v /= grad_v.std()
        return grad_v
    ex.normalise_pixel_map = normalise_pixel_map


def ex11_absolute_values_in_place(ex):
    ex.token_scores = lambda grad_q: numpy.abs(grad_q, out=grad_q).sum(axis=1)


def ex09_arrays_returned(ex):
    """Right values as NumPy arrays: the grader said only that backward() met a tensor made under no_grad()."""
    right = ex.mlb_forward
    ex.mlb_forward = lambda mlb, question, features: tuple(t.data for t in right(mlb, question, features))
