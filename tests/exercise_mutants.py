"""Plausible wrong answers to the exercises, each written as a learner might: the grader must fail every one
with a message that names what is wrong (tests/test_exercises_grading.py checks it).

Each mutant takes the module of an exercise whose blanks hold the reference solution and puts one mistake
in it. ``MUTANTS`` lists (exercise, mutant, words the first-level message must contain).
"""
import numpy


# --------------------------------------------------------------------------- exercise 1: the scalar engine
def ex01_assign_instead_of_add(ex):
    def backward(self):
        self.grad = 1.0
        for value in reversed(ex.topological_order(self)):
            for parent, local in zip(value.parents, value.local):
                parent.grad = local * value.grad   # = instead of +=
    ex.Value.backward = backward


def ex01_recursive_order(ex):
    def topological_order(root, order=None, seen=None):
        order, seen = ([], set()) if order is None else (order, seen)
        if id(root) not in seen:
            seen.add(id(root))
            for parent in root.parents:
                topological_order(parent, order, seen)
            order.append(root)
        return order
    ex.topological_order = topological_order


def ex01_visited_keyed_on_data(ex):
    def topological_order(root):
        order, visited, stack = [], set(), [(root, False)]
        while stack:
            value, parents_done = stack.pop()
            if parents_done:
                order.append(value)
            elif value.data not in visited:   # two Values with equal numbers are taken for one
                visited.add(value.data)
                stack.append((value, True))
                stack.extend((parent, False) for parent in value.parents)
        return order
    ex.topological_order = topological_order


def ex01_no_visited_set(ex):
    def topological_order(root):
        order, stack = [], [(root, False)]
        while stack:
            value, parents_done = stack.pop()
            if parents_done:
                order.append(value)
            else:
                stack.append((value, True))
                stack.extend((parent, False) for parent in value.parents)
        return order
    ex.topological_order = topological_order


def ex01_not_reversed(ex):
    def backward(self):
        self.grad = 1.0
        for value in ex.topological_order(self):   # from the leaves up: grads passed on before complete
            for parent, local in zip(value.parents, value.local):
                parent.grad += local * value.grad
    ex.Value.backward = backward


# --------------------------------------------------------------------------- exercise 2: unbroadcast
def ex02_mean_instead_of_sum(ex):
    def unbroadcast(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.mean(axis=0)
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.mean(axis=axes, keepdims=True) if axes else grad
    ex.unbroadcast = unbroadcast


def ex02_no_sum(ex):
    ex.unbroadcast = lambda grad, shape: grad


def ex02_one_leading_axis_only(ex):
    def unbroadcast(grad, shape):
        if grad.ndim > len(shape):   # if for while: a second missing leading axis stays
            grad = grad.sum(axis=0)
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.sum(axis=axes, keepdims=True) if axes else grad
    ex.unbroadcast = unbroadcast


def ex02_no_keepdims(ex):
    def unbroadcast(grad, shape):
        while grad.ndim > len(shape):
            grad = grad.sum(axis=0)
        axes = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
        return grad.sum(axis=axes) if axes else grad
    ex.unbroadcast = unbroadcast


# --------------------------------------------------------------------------- exercise 3: tanh, softmax
def ex03_tanh_sign(ex):
    ex.Tanh.backward = lambda self, dy: (dy * (self.saved[0] ** 2 - 1),)


def ex03_softmax_without_the_sum(ex):
    ex.Softmax.backward = lambda self, dy: (self.saved[0] * dy,)


def ex03_softmax_sum_along_the_last_axis(ex):
    def backward(self, dy):
        (y,) = self.saved
        return (y * (dy - (dy * y).sum(axis=-1, keepdims=True)),)   # not self.axis
    ex.Softmax.backward = backward


# --------------------------------------------------------------------------- exercise 4: matmul
def ex04_sign_of_da(ex):
    def backward(self, dy):
        a, b = self.saved
        da = -(dy @ b.swapaxes(-1, -2))
        return ex.unbroadcast(da, a.shape), ex.unbroadcast(a.swapaxes(-1, -2) @ dy, b.shape)
    ex.MatMul.backward = backward


def ex04_no_unbroadcast_on_a(ex):
    def backward(self, dy):
        a, b = self.saved
        return dy @ b.swapaxes(-1, -2), ex.unbroadcast(a.swapaxes(-1, -2) @ dy, b.shape)   # only b broadcast?
    ex.MatMul.backward = backward


# --------------------------------------------------------------------------- exercise 5: col2im
def _col2im(kh_kw_swapped=False, add=True, stride_used=True):
    def col2im(dcols, shape, kh, kw, stride, padding):
        n, c, h, w = shape
        out_h, out_w = dcols.shape[-2:]
        if kh_kw_swapped:
            kh, kw, out_h, out_w = kw, kh, out_w, out_h
        s = stride if stride_used else 1
        dxpad = numpy.zeros((n, c, h + 2 * padding, w + 2 * padding))
        for i in range(kh):
            for j in range(kw):
                window = dxpad[:, :, i:i + s * out_h:s, j:j + s * out_w:s]
                if add:
                    window += dcols[:, :, i, j]
                else:
                    window[...] = dcols[:, :, i, j]
        return dxpad[:, :, padding:padding + h, padding:padding + w]
    return col2im


def ex05_overwrite(ex):
    ex.col2im = _col2im(add=False)


def ex05_kh_kw_and_ho_wo_swapped(ex):
    ex.col2im = _col2im(kh_kw_swapped=True)


def ex05_stride_ignored(ex):
    ex.col2im = _col2im(stride_used=False)


def ex05_padding_kept(ex):
    solved = ex.col2im

    def col2im(dcols, shape, kh, kw, stride, padding):
        dx = solved(dcols, shape, kh, kw, stride, padding)
        return numpy.pad(dx, ((0, 0), (0, 0), (padding, padding), (padding, padding)))   # the pad not cut off
    ex.col2im = col2im


# --------------------------------------------------------------------------- exercise 6: max-pool
def _maxpool_backward(h_w_swapped=False, add=True, decode_swapped=False):
    def backward(self, dy):
        k, s, p = self.kernel, self.stride, self.padding
        n, c, h, w = self.x_shape
        if h_w_swapped:
            h, w = w, h
        out_h, out_w = dy.shape[-2:]
        dxpad = numpy.zeros((n, c, h + 2 * p, w + 2 * p))
        for i in range(k):
            for j in range(k):
                won = dy * (self.argmax == (j * k + i if decode_swapped else i * k + j))
                window = dxpad[:, :, i:i + s * out_h:s, j:j + s * out_w:s]
                if add:
                    window += won
                else:
                    window[won != 0] = won[won != 0]
        return (dxpad[:, :, p:p + h, p:p + w],)
    return backward


def ex06_sign(ex):
    solved = ex.MaxPool2d.backward
    ex.MaxPool2d.backward = lambda self, dy: (-solved(self, dy)[0],)


def ex06_h_w_swapped(ex):
    ex.MaxPool2d.backward = _maxpool_backward(h_w_swapped=True)


def ex06_overwrite_in_overlaps(ex):
    ex.MaxPool2d.backward = _maxpool_backward(add=False)


def ex06_position_decoded_as_j_k_plus_i(ex):
    ex.MaxPool2d.backward = _maxpool_backward(decode_swapped=True)


# --------------------------------------------------------------------------- exercise 7: ReLU's rules
def ex07_guided_sign(ex):
    ex.relu_backward = lambda dy, mask, rule: dy * mask if rule == "gradient" else (
        dy * (mask & (dy < 0)) if rule == "guided" else dy * (dy > 0))


def ex07_guided_is_the_gradient(ex):
    ex.relu_backward = lambda dy, mask, rule: dy * (dy > 0) if rule == "deconvnet" else dy * mask


def ex07_deconvnet_uses_the_mask(ex):
    ex.relu_backward = lambda dy, mask, rule: dy * mask if rule == "gradient" else dy * (mask & (dy > 0))


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


# --------------------------------------------------------------------------- exercise 11: eq. 9-11
def ex11_per_channel(ex):
    def normalise_pixel_map(grad_v):
        return (grad_v - grad_v.mean(axis=(1, 2), keepdims=True)) / grad_v.std(axis=(1, 2), keepdims=True)
    ex.normalise_pixel_map = normalise_pixel_map


def ex11_sigma_exactly_zero(ex):
    def token_z_scores(scores):
        sigma = scores.std()
        return numpy.zeros_like(scores) if sigma == 0 else (scores - scores.mean()) / sigma
    ex.token_z_scores = token_z_scores


def ex11_sample_std(ex):
    def token_z_scores(scores):
        sigma = scores.std(ddof=1) if len(scores) > 1 else 0.0
        return numpy.zeros_like(scores) if sigma == 0 else (scores - scores.mean()) / sigma
    ex.token_z_scores = token_z_scores


def ex11_squares_for_absolute_values(ex):
    ex.token_scores = lambda grad_q: (numpy.asarray(grad_q) ** 2).sum(axis=1)


EX10 = "ex10_deviation_gradients"
MUTANTS = [
    ("ex01_scalar_engine", ex01_assign_instead_of_add, ["∂f/∂a of f = (a·b + c)·tanh a", "expected"]),
    ("ex01_scalar_engine", ex01_recursive_order, ["overflowed the stack"]),
    ("ex01_scalar_engine", ex01_visited_keyed_on_data, ["is missing", "holds the same number"]),
    ("ex01_scalar_engine", ex01_no_visited_set, ["appears twice"]),
    ("ex01_scalar_engine", ex01_not_reversed, ["∂f/∂", "expected"]),
    ("ex02_unbroadcast", ex02_mean_instead_of_sum, ["Add of a (3, 1) and b (1, 4)", "a constant factor is off"]),
    ("ex02_unbroadcast", ex02_no_sum, ["Add of a (3, 1) and b (1, 4)", "shape"]),
    ("ex02_unbroadcast", ex02_one_leading_axis_only, ["Add of a (2, 3, 4) and b (4,)", "shape (3, 4)"]),
    ("ex02_unbroadcast", ex02_no_keepdims, ["Add of a (3, 1) and b (1, 4)", "shape"]),
    ("ex03_tanh_softmax", ex03_tanh_sign, ["Tanh.backward", "the sign is flipped"]),
    ("ex03_tanh_softmax", ex03_softmax_without_the_sum, ["Softmax.backward along axis -1 of x (3, 5)"]),
    ("ex03_tanh_softmax", ex03_softmax_sum_along_the_last_axis, ["Softmax.backward along axis 0 of x (4, 3)"]),
    ("ex04_matmul", ex04_sign_of_da, ["MatMul.backward", "input 0 (a)", "the sign is flipped"]),
    ("ex04_matmul", ex04_no_unbroadcast_on_a, ["MatMul.backward of a (3, 2) @ b (2, 2, 4)", "shape (2, 3, 2)"]),
    ("ex05_conv_col2im", ex05_overwrite, ["col2im for x (2, 2, 5, 5), kernel kh × kw = 3 × 3, stride 1"]),
    ("ex05_conv_col2im", ex05_kh_kw_and_ho_wo_swapped, ["col2im for x (1, 2, 4, 6), kernel kh × kw = 2 × 3"]),
    ("ex05_conv_col2im", ex05_stride_ignored, ["col2im", "stride 2"]),
    ("ex05_conv_col2im", ex05_padding_kept, ["col2im", "padding 1", "shape (2, 2, 7, 7), expected (2, 2, 5, 5)"]),
    ("ex06_maxpool", ex06_sign, ["MaxPool2d.backward", "the sign is flipped"]),
    ("ex06_maxpool", ex06_h_w_swapped, ["MaxPool2d.backward for x (1, 2, 5, 7)"]),
    ("ex06_maxpool", ex06_overwrite_in_overlaps, ["MaxPool2d.backward for x (1, 2, 5, 7), kernel 3, stride 2"]),
    ("ex06_maxpool", ex06_position_decoded_as_j_k_plus_i, ["MaxPool2d.backward", "kernel 2"]),
    ("ex07_relu_rules", ex07_guided_sign, ["relu_backward, rule 'guided'", "element"]),
    ("ex07_relu_rules", ex07_guided_is_the_gradient, ["relu_backward, rule 'guided'", "element"]),
    ("ex07_relu_rules", ex07_deconvnet_uses_the_mask, ["relu_backward, rule 'deconvnet'", "element"]),
    ("ex08_gru_cell", ex08_no_direct_path, ["GRUCell.backward", "input 1 (the state h)"]),
    ("ex08_gru_cell", ex08_dz_sign, ["GRUCell.backward", "element"]),
    ("ex09_mlb", ex09_softmax_over_glimpses, ["α (eq. 4)", "the softmax runs over another axis"]),
    ("ex09_mlb", ex09_reshape_for_transpose, ["α (eq. 4)", "the right numbers in the wrong places"]),
    ("ex09_mlb", ex09_grid_detached, ["the gradient through mlb_forward", "input 1 (features)", "is 0"]),
    ("ex09_mlb", ex09_batch_of_one, ["mlb_forward (B = 2", "raised"]),
    (EX10, ex10_sign, ["∇q (F fixed, guided", "the sign is flipped"]),
    (EX10, ex10_one_pass, ["∇q (F fixed, guided", "one backward pass over both deviation losses"]),
    (EX10, ex10_image_grad_not_cleared, ["∇v (F not fixed", "what the pass for ∇q left in I.grad"]),
    (EX10, ex10_f_never_detached, ["∇q (F fixed, guided", "the right answer for F not fixed, guided"]),
    (EX10, ex10_always_the_gradient_rule, ["∇v (F fixed, guided", "the right answer for F fixed, plain"]),
    ("ex11_postprocess", ex11_per_channel, ["eq. 9 ∇̂v of ∇v (3, 6, 5)", "μ and σ were taken per channel"]),
    ("ex11_postprocess", ex11_sigma_exactly_zero, ["eq. 11 for 3 equal scores 0.1"]),
    ("ex11_postprocess", ex11_sample_std, ["eq. 11 z-scores of 5 tokens", "a constant factor is off"]),
    ("ex11_postprocess", ex11_squares_for_absolute_values, ["eq. 10 token scores"]),
]
