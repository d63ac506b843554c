"""Wrong answers to exercises 1-4: the scalar engine, unbroadcast, tanh and softmax, the matrix product."""
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


def ex01_order_not_returned(ex):
    """The right walk, its list never returned: the grader's own check raised a TypeError on the None."""
    right = ex.topological_order

    def topological_order(root):
        right(root)
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


def _walk_without_visited_set(root, drop_duplicates):
    """A post-order walk that expands a value each time it reaches it: each value once per path to it."""
    order, stack = [], [(root, False)]
    while stack:
        value, parents_done = stack.pop()
        if parents_done:
            if not (drop_duplicates and value in order):
                order.append(value)
        else:
            stack.append((value, True))
            stack.extend((parent, False) for parent in value.parents)
    return order


def ex01_no_visited_set(ex):
    ex.topological_order = lambda root: _walk_without_visited_set(root, drop_duplicates=False)


def ex01_duplicates_dropped_afterwards(ex):
    """No visited set, its duplicates dropped from the order: a right order, found in time exponential in the
    number of shared values (the grader once accepted it: no graph it tried shared enough)."""
    ex.topological_order = lambda root: _walk_without_visited_set(root, drop_duplicates=True)


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


def ex02_float32_sums(ex):
    """The right sums kept in float32: the grader passed it, float32's rounding being below its tolerance."""
    solved = ex.unbroadcast
    ex.unbroadcast = lambda grad, shape: solved(grad, shape).astype(numpy.float32)


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


def ex03_softmax_dy_in_place(ex):
    """dy changed in place (the engine's, maybe shared): passed, since Σ y = 1 hid the changed cotangent."""
    def backward(self, dy):
        (y,) = self.saved
        dy -= (dy * y).sum(axis=self.axis, keepdims=True)
        return (y * dy,)
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


def ex04_tensors_from_ops(ex):
    """The right products made by the engine's ops: the engine failed on a Tensor, in its own line."""
    from hadamard_min import Tensor, ops

    def backward(self, dy):
        a, b = (Tensor(x) for x in self.saved)
        return (ops.matmul(Tensor(dy), ops.transpose(b, (1, 0))), ops.matmul(ops.transpose(a, (1, 0)), Tensor(dy)))
    ex.MatMul.backward = backward
