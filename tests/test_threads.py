"""Explanations computed in two threads at once are those computed one after the other (to float32 rounding):
the engine's switches (``no_grad``, the ReLU rule of ``guided_backprop``) belong to the thread that sets them."""
import threading

import numpy

import hadamard_min as hm
from hadamard_min.core.function import grad_enabled


def test_two_threads_explaining_by_different_methods_get_the_serial_results():
    model = hm.load_model()
    image, question = hm.example()
    methods = ("hadamard", "saliency", "attention", "guided")
    serial = {method: hm.explain(model, image, question, method=method) for method in methods}
    results, errors = {method: [] for method in methods}, []

    def explain(method):
        try:
            for _ in range(4):
                results[method].append(hm.explain(model, image, question, method=method))
        except Exception as error:  # reported below, with its method
            errors.append((method, error))

    threads = [threading.Thread(target=explain, args=(method,)) for method in methods]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    for method in methods:
        assert len(results[method]) == 4, method
        for e in results[method]:  # a rule taken from the other thread moved ∇v by 20–140 % of its largest value
            assert e.answer == serial[method].answer, method
            for name in ("grad_v", "heatmap", "alpha"):
                ours, alone = getattr(e, name), getattr(serial[method], name)
                if alone is not None:  # float32 products may round otherwise when two threads share the BLAS
                    assert numpy.abs(ours - alone).max() <= 1e-4 * numpy.abs(alone).max(), (method, name)


def test_a_no_grad_block_in_one_thread_leaves_the_others_recording():
    inside, outside = threading.Event(), threading.Event()
    seen = []

    def without_gradients():
        with hm.no_grad():
            inside.set()
            outside.wait(10)

    thread = threading.Thread(target=without_gradients)
    thread.start()
    inside.wait(10)
    seen.append(grad_enabled())  # here, while the other thread is inside its block
    outside.set()
    thread.join()
    assert seen == [True] and grad_enabled()
    x = hm.Tensor(numpy.ones(3), requires_grad=True)
    (x * x).sum().backward()
    assert numpy.array_equal(x.grad, numpy.full(3, 2.0))
