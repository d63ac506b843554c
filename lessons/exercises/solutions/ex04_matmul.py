"""Exercise 4, the blank filled."""
from hadamard_min.ops.elementwise import unbroadcast


class MatMul:
    def backward(self, dy):
        a, b = self.saved
        return unbroadcast(dy @ b.swapaxes(-1, -2), a.shape), unbroadcast(a.swapaxes(-1, -2) @ dy, b.shape)
