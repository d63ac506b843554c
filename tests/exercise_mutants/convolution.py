"""Wrong answers to exercises 5-7: col2im, max-pool's backward, ReLU's rules."""
import numpy


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


def ex05_dcols_cleared_in_place(ex):
    """dcols zeroed once added in: the grader once compared with what the package makes of the changed dcols,
    and said "expected 0"."""
    solved = ex.col2im

    def col2im(dcols, shape, kh, kw, stride, padding):
        dx = solved(dcols, shape, kh, kw, stride, padding)
        dcols *= 0   # "used up"
        return dx
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


def ex07_guided_raises(ex):
    """`and` on arrays raises in the guided rule only: a traceback of the grader's own code."""
    ex.relu_backward = lambda dy, mask, rule: dy * mask if rule == "gradient" else (
        dy * (mask and dy > 0) if rule == "guided" else dy * (dy > 0))


def _gradient_rule_cast_to(dtype):
    def relu_backward(dy, mask, rule):
        return (dy * mask).astype(dtype) if rule == "gradient" else (
            dy * (mask & (dy > 0)) if rule == "guided" else dy * (dy > 0))
    return relu_backward


def ex07_cast_to_int(ex):
    """A cast of the gradient to int: every |dy| < 1 rounds to 0, which once read as "a term is missing"."""
    ex.relu_backward = _gradient_rule_cast_to(int)


def ex07_cast_to_float32(ex):
    """A cast of the gradient to float32: it passed, float32's rounding being below the grader's tolerance."""
    ex.relu_backward = _gradient_rule_cast_to(numpy.float32)


def ex07_guided_mask_changed_in_place(ex):
    """The forward's mask narrowed in place to [x > 0]·[dy > 0]: right once, wrong in a second pass through the
    same graph (retain_graph=True, as ex. 10 takes ∇q and ∇v); the grader passed it."""
    def relu_backward(dy, mask, rule):
        if rule == "guided":
            mask &= dy > 0
        return dy * mask if rule != "deconvnet" else dy * (dy > 0)
    ex.relu_backward = relu_backward


def ex07_in_place(ex):
    def relu_backward(dy, mask, rule):  # dx written over dy: the caller's array
        keep = mask if rule == "gradient" else (mask & (dy > 0) if rule == "guided" else dy > 0)
        dy[~keep] = 0
        return dy
    ex.relu_backward = relu_backward
