"""ReLUs on V's path that guided backprop cannot reach: found in autograd's graph once ``forward`` has run.

The patch of ``nn.ReLU`` modules and the ``RelusAsFunctions`` mode see ReLUs that Python calls; TorchScript
(``torch.jit.script``, ``torch.jit.trace``) runs its ReLUs in C++, past both. Autograd records them all the same:
a traced ReLU (and a scripted one on its first, profiling runs) as a ``ReluBackward0``, ``HardtanhBackward0``
from 0 or ``ClampBackward`` from 0 node; a script module's optimised graph as one opaque node, the grad_fn of its
outputs, recorded here where the module computes ReLUs (its own code says: ``scripted_relus``). A node of either
kind on a path from V back to the images I would pass its plain gradient in the guided pass: refused before it.
"""
import threading

import torch

from hadamard_min.torch_model import scalar_bound


def scripted_relus(module):
    """Whether a TorchScript module's code computes a ReLU, a ReLU6 or a hardtanh (nn.ReLU6's)."""
    try:
        nodes = list(module.inlined_graph.nodes())
    except (AttributeError, RuntimeError):  # a script module without a forward of its own
        return False
    while nodes:  # with the nodes of each branch (F.relu's "if inplace") and loop
        node = nodes.pop()
        if node.kind().rstrip("_") in ("aten::relu", "aten::relu6", "aten::hardtanh"):
            return True
        nodes += [inner for block in node.blocks() for inner in block.nodes()]
    return False


class ScriptedRelus:
    """Inside: the grad_fn of each output of a TorchScript module with ReLUs that this thread calls is noted;
    ``refuse(V, I)`` then raises ValueError where one, or a ReLU autograd recorded, is on V's path to I."""

    def __enter__(self):
        self.outputs, thread = set(), threading.get_ident()

        def note(module, inputs, output):
            if threading.get_ident() == thread and isinstance(module, torch.jit.ScriptModule) \
                    and scripted_relus(module):
                self.outputs |= {x.grad_fn for x in torch.utils._pytree.tree_leaves(output)
                                 if isinstance(x, torch.Tensor) and x.grad_fn is not None}

        self.handle = torch.nn.modules.module.register_module_forward_hook(note)
        return self

    def __exit__(self, *error):
        self.handle.remove()

    def refuse(self, V, I):
        for node in _between(V.grad_fn, I):
            if node in self.outputs or _relu(node):
                raise ValueError(f"V's gradient goes through a ReLU that guided backprop cannot reach ({node.name()}: "
                                 f"in TorchScript, torch.jit.trace or another op): guided backprop would pass its "
                                 f"plain gradient there; make it an nn.ReLU module of relus (the module, not its "
                                 f"script), or pass guided=False")


def _relu(node):
    """Whether autograd's node passes back a ReLU's gradient: relu, or hardtanh or clamp from 0 up to u > 0."""
    name = node.name()
    lower, upper = (getattr(node, f"_saved_{bound}", None) for bound in (("min_val", "max_val") if "Hardtanh" in name
                                                                          else ("min", "max")))
    lower, upper = scalar_bound(lower), scalar_bound(upper)  # clamp's tensor bounds: as RelusAsFunctions reads them
    bounded = name.startswith(("HardtanhBackward", "ClampBackward", "ClampMinBackward"))
    return name.startswith("ReluBackward") or (bounded and lower == 0 and upper is not NotImplemented
                                               and (upper is None or upper > 0))


def _between(start, leaf):
    """The nodes of autograd's graph on a path from ``start`` back to ``leaf``'s AccumulateGrad: reached from
    ``start`` and reaching ``leaf`` (a ReLU of a parameter's branch alone passes nothing to the images)."""
    parents, stack, target = {start: []}, [start] if start is not None else [], None
    while stack:
        node = stack.pop()
        target = node if getattr(node, "variable", None) is leaf else target
        for child, _ in node.next_functions:
            if child is not None and child not in parents:
                stack.append(child)
            if child is not None:
                parents.setdefault(child, []).append(node)
    between, stack = set(), [target] if target is not None else []
    while stack:
        node = stack.pop()
        if node not in between:
            between.add(node)
            stack += parents[node]
    return between
