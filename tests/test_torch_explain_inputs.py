"""``explain_torch`` on a user's mistakes: each is one clear ValueError or TypeError that says what to pass, raised
before anything is patched or after every patch is undone, never a traceback from inside torch or a wrong result;
and two calls on one model at once leave it as it was."""
import threading
import time

import numpy
import pytest


def small(torch):
    """A small model whose forward returns (Q, V, F, logits), with a ReLU and a ReLU6 module; images and words."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.relu, self.relu6 = torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.ReLU6()
            self.image, self.words = torch.nn.Linear(4, 5), torch.nn.Linear(3, 5)

        def forward(self, I, q):
            V = self.image(self.relu6(self.relu(self.conv(I))).mean((2, 3)))
            Q = torch.tanh(self.words(q).mean(1))
            return Q, V, Q * V, V.sum(1)

    torch.manual_seed(0)
    return Net().eval(), 3 * torch.randn(2, 3, 6, 6), torch.randn(2, 4, 3)


def explain(*args, **kwargs):
    from hadamard_min.torch_explain import explain_torch
    return explain_torch(*args, **kwargs)


def state(net):
    """What a call must leave as it found it: training flags, requires_grad, .grad, hooks, instance forwards."""
    return ([m.training for m in net.modules()], [(p.requires_grad, None if p.grad is None else p.grad.tolist())
                                                  for p in net.parameters()],
            [(dict(m._forward_hooks), dict(m._forward_pre_hooks)) for m in net.modules()],
            [m.__dict__.get("forward") for m in net.modules()])


def test_forward_must_return_a_tuple_or_a_mapping_of_q_v_f(torch):
    """A lone tensor F would be unpacked row by row into Q, V and F."""
    net, images, words = small(torch)
    for forward in (lambda I, q: net(I, q)[2], lambda I, q: (x for x in net(I, q)), lambda I, q: net(I, q)[:2]):
        with pytest.raises(ValueError, match="forward must return"):
            explain(forward, images, words, relus=net)


def test_f_must_be_the_hadamard_product_of_q_and_v(torch):
    """Q + V, zeros or F = Q are refused; F rounded to another dtype is accepted."""
    net, images, words = small(torch)
    for fuse in (torch.add, lambda Q, V: torch.zeros_like(Q), lambda Q, V: Q):
        with pytest.raises(ValueError, match="F must be the Hadamard product Q ∘ V"):
            explain(lambda I, q, fuse=fuse: (lambda Q, V, *_: (Q, V, fuse(Q, V)))(*net(I, q)), images, words,
                    relus=net)
    rounded = explain(lambda I, q: (lambda Q, V, F, _: (Q, V, F.half()))(*net(I, q)), images, words, relus=net)
    torch.testing.assert_close(rounded.grad_v, explain(net, images, words, relus=net).grad_v, rtol=1e-2, atol=1e-5)
    with pytest.raises(ValueError, match="Q, V or F hold NaN or infinite values"):
        explain(lambda I, q: (lambda Q, V, *_: (Q / 0, V, Q / 0 * V))(*net(I, q)), images, words, relus=net)


def test_q_v_and_f_must_be_one_shape_with_the_inputs_batch(torch):
    """Q[:1] of a batch of 2 gave example 1 a zero explanation; scalars were taken."""
    net, images, words = small(torch)
    for cut in (lambda x: x[:1], lambda x: x.sum(), lambda x: x.detach().numpy()):
        with pytest.raises(ValueError, match=r"one shape \(B, d\), B = 2"):
            explain(lambda I, q, cut=cut: tuple(cut(x) for x in net(I, q)[:3]), images, words, relus=net)


@pytest.mark.parametrize("lengths, error", [
    ([0, 4], ValueError), ([5, 4], ValueError), ([-1, 4], ValueError), ([4], ValueError), ([4, 4, 4], ValueError),
    ([2.0, 3], TypeError), (["2", 3], TypeError), ([None, 3], TypeError), (3, TypeError), ("23", TypeError),
    ([True, 3], TypeError), (numpy.array([True, True]), TypeError), (lambda torch: torch.tensor([2.0, 3.0]), TypeError),
    (lambda torch: torch.tensor([True, True]), TypeError)])
def test_lengths_must_be_one_whole_number_in_1_to_t_per_question(torch, lengths, error):
    net, images, words = small(torch)
    lengths = lengths(torch) if callable(lengths) else lengths
    with pytest.raises(error, match=r"lengths must be 2 whole numbers in 1\.\.4"):
        explain(net, images, words, relus=net, lengths=lengths)


def test_lengths_may_be_python_numpy_or_torch_integers(torch):
    net, images, words = small(torch)
    for lengths in ([2, 4], (2, 4), numpy.array([2, 4]), torch.tensor([2, 4]), [numpy.int32(2), torch.tensor(4)]):
        assert [len(s) for s in explain(net, images, words, relus=net, lengths=lengths).token_scores] == [2, 4]


def test_inputs_must_be_finite_floating_point_tensors_of_one_batch(torch):
    """Each mistake is one error that names the input and what to pass."""
    net, images, words = small(torch)
    cases = [(images.numpy(), words, TypeError, "images must be a floating-point torch tensor"),
             (images, words.numpy(), TypeError, r"torch.from_numpy\(array\) for an array\), not ndarray"),
             (images, torch.zeros(2, 4, dtype=torch.long), TypeError, r"net.embedding\(ids\), not ids"),
             (images.to(torch.uint8), words, TypeError, "images .* not torch.uint8"),
             (images[:0], words[:0], ValueError, r"images must be a tensor \(B, 3, H, W\) with no empty axis"),
             (images, words[0], ValueError, r"words must be a tensor \(B, T, D\)"),
             (images, words[:, :0], ValueError, r"words must be a tensor \(B, T, D\) with no empty axis"),
             (images[:1], words, ValueError, "same examples: 1 images, 2 questions"),
             (images / 0, words, ValueError, "images hold NaN or infinite values"),
             (images, words * float("inf"), ValueError, "words hold NaN or infinite values")]
    for I, q, error, message in cases:
        with pytest.raises(error, match=message):
            explain(net, I, q, relus=net)


def test_q_and_v_must_be_computed_from_the_inputs(torch):
    net, images, words = small(torch)
    cases = [(lambda Q, V: (Q.detach(), V), "Q must be computed from the word vectors q"),
             (lambda Q, V: (Q, torch.ones_like(V)), "V must be computed from the images I"),
             (lambda Q, V: (torch.tanh(net.words.bias).expand_as(Q), V), "Q must be computed")]  # parameters only
    for swap, message in cases:
        with pytest.raises(ValueError, match=message):
            explain(lambda I, q, swap=swap: (lambda Q, V: (Q, V, Q * V))(*swap(*net(I, q)[:2])), images, words,
                    relus=net)


def test_under_no_grad_or_inference_mode_it_explains_as_anywhere(torch):
    net, images, words = small(torch)
    expected = explain(net, images, words, relus=net)
    for mode in (torch.no_grad, torch.inference_mode):
        with mode():
            result = explain(net, images, words, relus=net)
        assert torch.equal(result.grad_v, expected.grad_v) and torch.equal(result.grad_q, expected.grad_q)


def test_relus_must_be_a_module_and_guided_a_bool(torch):
    """relus=[net.relu] failed inside; guided="no" meant True."""
    net, images, words = small(torch)
    with pytest.raises(TypeError, match=r"relus must be an nn.Module \(the model\) or None, not list"):
        explain(net, images, words, relus=[net.relu])
    for guided in ("no", None, 0):
        with pytest.raises(TypeError, match="guided must be True or False"):
            explain(net, images, words, relus=net, guided=guided)


def test_a_relu_with_a_forward_of_its_own_is_refused_for_guided_backprop(torch):
    """Patching 2 relu(x) + 1 into a clamp would explain another network; guided=False patches nothing."""
    net, images, words = small(torch)

    class Shifted(torch.nn.ReLU):
        def forward(self, x):
            return 2 * super().forward(x) + 1

    class Named(torch.nn.ReLU6):  # nn.ReLU6's own forward: patched as usual
        pass

    net.relu, net.relu6 = Shifted().eval(), Named().eval()
    with pytest.raises(ValueError, match=r"module relu \(Shifted\) has a forward of its own.*pass guided=False"):
        explain(net, images, words, relus=net)
    plain = explain(net, images, words, relus=net, guided=False)
    I = images.clone().requires_grad_(True)
    _, V, F, _ = net(I, words)
    V.backward(V - F.detach())
    assert torch.equal(plain.grad_v, I.grad) and "forward" not in net.relu.__dict__
    net.relu = torch.nn.ReLU().eval()
    assert not torch.equal(explain(net, images, words, relus=net).grad_v, plain.grad_v)


def test_after_an_error_or_an_interrupt_the_model_is_as_it_was(torch):
    net, images, words = small(torch)
    net.relu.register_forward_hook(lambda module, inputs, output: None)
    net.relu6.forward = own = torch.nn.functional.relu6  # an instance forward of the user's, patched over
    net.conv.weight.grad, net.image.bias.requires_grad = torch.ones_like(net.conv.weight), False
    before = state(net)

    def interrupted(I, q):
        net(I, q)
        raise KeyboardInterrupt

    for forward, error in ((interrupted, KeyboardInterrupt), (lambda I, q: net(I, q)[:2] * 2, ValueError)):
        with pytest.raises(error):
            explain(forward, images, words, relus=net)
        assert state(net) == before and net.relu6.forward is own


def test_two_threads_on_one_model_leave_it_as_it_was(torch):
    """Unserialised, the second call kept the first's patch as the module's own forward and put it back."""
    net, images, words = small(torch)
    alone = explain(net, images, words, relus=net)

    def slow(I, q):
        time.sleep(0.2)  # the other thread starts meanwhile
        return net(I, q)

    results = []
    threads = [threading.Thread(target=lambda: results.append(explain(slow, images, words, relus=net)))
               for _ in range(2)]
    for thread in threads:
        thread.start()
        time.sleep(0.05)
    for thread in threads:
        thread.join()
    assert len(results) == 2 and all(torch.equal(r.grad_v, alone.grad_v) for r in results)
    assert [m for m in net.modules() if "forward" in m.__dict__] == []
    x = torch.tensor([[-1.0, 2.0]], requires_grad=True)
    (net.relu(x) * torch.tensor([[1.0, -3.0]])).sum().backward()
    assert x.grad.tolist() == [[0.0, -3.0]]  # the plain gradient, not guided backprop's [[0, 0]]


def test_a_call_inside_forward_does_not_wait_for_itself(torch):
    net, images, words = small(torch)
    inner = []

    def nested(I, q):
        inner.append(explain(net, images, words, relus=net))
        return net(I, q)

    results = []
    thread = threading.Thread(target=lambda: results.append(explain(nested, images, words, relus=net)), daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive() and torch.equal(results[0].grad_v, inner[0].grad_v)
    assert [m for m in net.modules() if "forward" in m.__dict__] == []


def test_the_result_keeps_no_graph(torch):
    """Only the ∇q pass keeps the graph, for the ∇v pass after it; every tensor returned is detached, so neither
    the image branch's nor the question branch's saved activations outlive the call."""
    net, images, words = small(torch)
    nested = explain(lambda I, q: (lambda Q, V, F, s: {"Q": Q, "V": V, "F": F, "more": [s, (Q,)]})(*net(I, q)),
                     images, words, relus=net)
    for result in (explain(net, images, words, relus=net), nested):
        outputs = (list(result.outputs) if isinstance(result.outputs, tuple)
                   else [result.outputs[k] for k in "QVF"] + [result.outputs["more"][0], result.outputs["more"][1][0]])
        for tensor in outputs + [result.grad_v, result.grad_q]:
            assert isinstance(tensor, torch.Tensor) and not tensor.requires_grad and tensor.grad_fn is None
            with pytest.raises(RuntimeError, match="does not require grad"):
                tensor.sum().backward()
    assert all(p.grad is None for p in net.parameters())


def test_a_gradient_that_is_not_finite_is_refused(torch):
    """A float16 gradient beyond 65504 (the forward finite) or sqrt at 0 gave NaN pixel maps as if explained."""
    relu = torch.nn.ReLU().eval()
    images, words = torch.rand(2, 3, 4, 4) * 3 + 0.1, torch.rand(2, 4, 1) * 0.1
    cases = [(lambda I: 200 * relu(I), images.half(), words.half(), "∇v holds NaN or infinite values"),
             (lambda I: torch.sqrt(relu(I - 0.1 - images[0, 0, 0, 0])), images, words, "∇v holds NaN")]
    for image_side, I, q, message in cases:
        def forward(I, q, image_side=image_side):
            V, Q = image_side(I).flatten(1)[:, :4], torch.tanh(q).flatten(1)
            return Q, V, Q * V
        with pytest.raises(ValueError, match=message):
            explain(forward, I, q, relus=relu)
