"""Exercise 3, the blanks filled."""


class Tanh:
    def backward(self, dy):
        (y,) = self.saved
        return (dy * (1 - y * y),)


class Softmax:
    def backward(self, dy):
        (y,) = self.saved
        return (y * (dy - (dy * y).sum(axis=self.axis, keepdims=True)),)
