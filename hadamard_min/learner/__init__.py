"""Learner mode: the package run on the ops a learner wrote in ``lessons/exercises``.

    ops.py        the table of swappable ops and ``learner(DIR)``, the block that swaps them in
    capstone.py   the shipped model's explanation on the learner's ops, compared with the package's
    __main__.py   ``python -m hadamard_min.learner DIR``: the capstone as a command
"""
