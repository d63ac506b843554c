"""Exercise 7, the blank filled."""


def relu_backward(dy, mask, rule):
    if rule == "gradient":
        return dy * mask
    if rule == "guided":
        return dy * (mask & (dy > 0))
    return dy * (dy > 0)
