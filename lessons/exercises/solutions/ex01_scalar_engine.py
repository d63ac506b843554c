"""Exercise 1, the blanks filled: the walk and the order (an iterative post-order depth-first search)."""


class Value:
    def backward(self):
        self.grad = 1.0
        for value in reversed(topological_order(self)):
            for parent, local in zip(value.parents, value.local):
                parent.grad += local * value.grad


def topological_order(root):
    order, visited, stack = [], set(), [(root, False)]
    while stack:
        value, parents_done = stack.pop()
        if parents_done:
            order.append(value)          # all of its parents are already in the order
        elif id(value) not in visited:
            visited.add(id(value))
            stack.append((value, True))  # come back to it once its parents are done
            stack.extend((parent, False) for parent in value.parents)
    return order
