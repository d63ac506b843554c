"""Layers and their parts: ``Module`` (module.py), the layers (layers.py), initialisers (init.py), the ops
layers call with their fast forms (functional.py), and the optimiser (optim.py)."""
