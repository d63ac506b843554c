"""The GRU question encoder: both candidate forms against a NumPy loop, gradients by central differences,
padding at the end left alone, and PyTorch parity for the "reset_after" form."""
import numpy
import pytest

from hadamard_min import Tensor
from hadamard_min.core.gradcheck import gradcheck
from hadamard_min.models.question import GRU, QuestionEncoder


def sigmoid(x):
    return 1 / (1 + numpy.exp(-x))


def reference_gru(x, lengths, w_ih, w_hh, b_ih, b_hh, candidate):
    """The equations of models/question.py, one sequence and one step at a time."""
    hidden = w_hh.shape[1]
    out = numpy.zeros((len(x), hidden))
    for b, length in enumerate(lengths):
        h = numpy.zeros(hidden)
        for t in range(length):
            gi, gh = w_ih @ x[b, t] + b_ih, w_hh @ h + b_hh
            r = sigmoid(gi[:hidden] + gh[:hidden])
            z = sigmoid(gi[hidden:2 * hidden] + gh[hidden:2 * hidden])
            if candidate == "reset_after":
                n = numpy.tanh(gi[2 * hidden:] + r * gh[2 * hidden:])
            else:
                n = numpy.tanh(gi[2 * hidden:] + w_hh[2 * hidden:] @ (r * h) + b_hh[2 * hidden:])
            h = (1 - z) * n + z * h
        out[b] = h
    return out


def float64_gru(candidate, input_dim=3, hidden_dim=4, seed=0):
    return GRU(input_dim, hidden_dim, candidate=candidate, rng=numpy.random.default_rng(seed)).astype(numpy.float64)


def params(gru):
    return [gru.weight_ih.data, gru.weight_hh.data, gru.bias_ih.data, gru.bias_hh.data]


@pytest.mark.parametrize("candidate", ["reset_after", "reset_before"])
def test_forward_matches_the_equations(candidate, rng):
    gru = float64_gru(candidate)
    x = rng.standard_normal((3, 5, 3))
    lengths = numpy.array([5, 2, 1])
    got = gru(Tensor(x), lengths).data
    expected = reference_gru(x, lengths, *params(gru), candidate)
    numpy.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-14)


def test_the_two_candidate_forms_differ(rng):
    x = Tensor(rng.standard_normal((2, 4, 3)))
    after, before = float64_gru("reset_after"), float64_gru("reset_before")
    assert not numpy.allclose(after(x).data, before(x).data)


@pytest.mark.parametrize("candidate", ["reset_after", "reset_before"])
def test_gradcheck_with_variable_lengths(candidate, rng):
    gru = float64_gru(candidate)
    lengths = numpy.array([4, 2, 1])

    def run(x, w_ih, w_hh, b_ih, b_hh):
        gru.weight_ih, gru.weight_hh, gru.bias_ih, gru.bias_hh = w_ih, w_hh, b_ih, b_hh
        h, states = gru(x, lengths, return_states=True)
        return h * 2 + states.sum(axis=1)

    gradcheck(run, rng.standard_normal((3, 4, 3)), *params(gru))


def test_padding_changes_nothing_and_gets_no_gradient(rng):
    gru = float64_gru("reset_after")
    x = Tensor(rng.standard_normal((2, 5, 3)), requires_grad=True)
    h, states = gru(x, numpy.array([5, 3]), return_states=True)
    alone = gru(Tensor(x.data[1:, :3]))
    numpy.testing.assert_allclose(h.data[1], alone.data[0], rtol=1e-13)
    numpy.testing.assert_array_equal(states.data[1, 3], states.data[1, 2])  # state kept past the length
    (h * Tensor(rng.standard_normal(h.shape))).sum().backward()
    assert numpy.all(x.grad[1, 3:] == 0) and numpy.all(x.grad[1, :3] != 0)


def test_question_encoder_returns_the_word_vectors(rng):
    encoder = QuestionEncoder(num_words=9, word_dim=3, hidden_dim=4, rng=rng)
    ids = numpy.array([[2, 5, 7, 0], [3, 0, 0, 0]])
    q, words = encoder(ids, numpy.array([3, 1]))
    assert q.shape == (2, 4) and words.shape == (2, 4, 3)
    numpy.testing.assert_array_equal(words.data, encoder.embedding.weight.data[ids])
    words.retain_grad()
    q.sum().backward()
    assert words.grad.shape == (2, 4, 3)
    assert numpy.all(words.grad[0, 3] == 0) and numpy.all(words.grad[1, 1:] == 0)
    assert numpy.any(words.grad[0, :3] != 0)
    numpy.testing.assert_array_equal(encoder.encode(words, numpy.array([3, 1])).data, q.data)


def test_unknown_candidate_is_refused():
    with pytest.raises(ValueError, match="candidate"):
        GRU(3, 4, candidate="reset_sideways")


def test_parity_with_torch_gru(torch, rng):
    """torch.nn.GRU (batch_first, packed by length) with the same weights: states and all gradients."""
    gru = float64_gru("reset_after", input_dim=5, hidden_dim=6)
    reference = torch.nn.GRU(5, 6, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(reference, name + "_l0").copy_(torch.from_numpy(getattr(gru, name).data))
    x_np, lengths = rng.standard_normal((3, 7, 5)), numpy.array([7, 4, 2])
    cotangent = rng.standard_normal((3, 6))

    x = Tensor(x_np, requires_grad=True)
    h = gru(x, lengths)
    (h * Tensor(cotangent)).sum().backward()

    x_t = torch.tensor(x_np, requires_grad=True)
    packed = torch.nn.utils.rnn.pack_padded_sequence(x_t, torch.tensor(lengths), batch_first=True,
                                                     enforce_sorted=False)
    _, h_t = reference(packed)
    (h_t[0] * torch.from_numpy(cotangent)).sum().backward()

    numpy.testing.assert_allclose(h.data, h_t[0].detach().numpy(), rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(x.grad, x_t.grad.numpy(), rtol=1e-10, atol=1e-12)
    for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
        numpy.testing.assert_allclose(getattr(gru, name).grad, getattr(reference, name + "_l0").grad.numpy(),
                                      rtol=1e-10, atol=1e-12, err_msg=name)
