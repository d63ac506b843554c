"""``explain_torch`` and the state of the user's model: one in training mode, one without a ReLU module for the
guided backprop it is asked for, inputs of another dtype than its parameters or a forward that is no function
are each refused with one clear error before the model runs; an in-place ReLU keeps changing its input."""
import pytest


def explain(*args, **kwargs):
    from hadamard_min.torch_explain import explain_torch
    return explain_torch(*args, **kwargs)


def with_dropout_and_batch_norm(torch):
    """A model with BatchNorm and Dropout on the image side, in training mode as torch builds it."""
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.cnn = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                           torch.nn.Dropout(0.5))
            self.image, self.words = torch.nn.Linear(4, 4), torch.nn.Linear(3, 4)

        def qvf(self, I, q, cnn=None):
            V = torch.tanh(self.image((cnn or self.cnn)(I).mean((2, 3))))
            Q = torch.tanh(self.words(q).mean(1))
            return Q, V, Q * V

    torch.manual_seed(0)
    return Net(), torch.rand(2, 3, 6, 6), torch.randn(2, 4, 3)


def test_a_model_in_training_mode_is_refused_and_left_as_it_was(torch):
    """In training mode the call updated BatchNorm's running statistics and dropout made two calls differ."""
    net, images, words = with_dropout_and_batch_norm(torch)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    for relus in (net, None):  # None: the module of forward=net.qvf
        with pytest.raises(ValueError, match=r"the model \(Net\) is in training mode.*call net.eval\(\) first"):
            explain(net.qvf, images, words, relus=relus)
    net.eval().cnn[3].train()
    with pytest.raises(ValueError, match=r"the model's module cnn.3 \(Dropout\) is in training mode"):
        explain(net.qvf, images, words, relus=net, guided=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    net.eval()
    first, second = (explain(net.qvf, images, words) for _ in range(2))
    assert torch.equal(first.grad_v, second.grad_v) and torch.count_nonzero(first.grad_v) > 0


def test_a_module_in_training_mode_that_forward_calls_is_refused_before_it_runs(torch):
    """Where the call is not given the model (a lambda, or relus only a part of it), each module is checked as
    forward calls it: before, BatchNorm's running statistics changed and dropout made the explanation random."""
    net, images, words = with_dropout_and_batch_norm(torch)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    net.image.eval()  # a part in eval mode, the rest in training
    for relus in (None, net.image):
        with pytest.raises(ValueError, match=r"forward called a BatchNorm2d module in training mode.*net\.eval"):
            explain(lambda I, q: net.qvf(I, q), images, words, relus=relus, guided=False)
    assert all(torch.equal(before[k], v) for k, v in net.state_dict().items())
    net.eval().cnn[3].train()
    with pytest.raises(ValueError, match="forward called a Dropout module in training mode"):
        explain(lambda I, q: net.qvf(I, q), images, words, guided=False)
    net.eval()
    result = explain(lambda I, q: net.qvf(I, q), images, words, guided=False)
    assert torch.count_nonzero(result.grad_v) > 0
    net.train()
    net.cnn(images)  # after the call, outside it, a module in training mode runs as torch has it
    assert not all(torch.equal(before[k], v) for k, v in net.state_dict().items())


def test_a_module_in_training_mode_that_computes_alike_in_both_is_accepted(torch):
    """A ReLU swapped in after net.eval() (a new module is in training mode) changes nothing: it is accepted,
    as is dropout of p = 0; dropout that drops and running statistics are refused."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    expected = explain(net.qvf, images, words).grad_v
    net.cnn[2] = torch.nn.ReLU()
    assert net.cnn[2].training and torch.equal(explain(net.qvf, images, words).grad_v, expected)
    net.cnn[3] = torch.nn.Dropout(0.0)
    assert torch.equal(explain(net.qvf, images, words).grad_v, expected)
    for module in (torch.nn.Dropout(0.5), torch.nn.BatchNorm2d(4)):
        net.cnn[3] = module
        with pytest.raises(ValueError, match=rf"cnn.3 \({type(module).__name__}\) is in training mode"):
            explain(net.qvf, images, words)


def test_guided_backprop_needs_a_relu_module(torch):
    """With relus=None or a module holding no ReLU, the default guided=True gave plain gradients unsaid; None now
    means the module forward is or is a method of."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    for relus in (None, net.words):
        with pytest.raises(ValueError, match=r"found no nn.ReLU or nn.ReLU6 module in relus.*guided=False"):
            explain(lambda I, q: net.qvf(I, q), images, words, relus=relus)
    plain = explain(net.qvf, images, words, guided=False).grad_v
    guided = explain(net.qvf, images, words).grad_v
    assert torch.equal(guided, explain(net.qvf, images, words, relus=net).grad_v)
    assert not torch.equal(guided, plain)


def test_an_inplace_relu_changes_its_input_during_the_explanation_too(torch):
    """A model that reads x after relu_(x) computed another V while its ReLU was patched."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval().cnn[2].inplace = True

    def reads_x_after_relu(x):
        net.cnn[2](x)
        return x

    def forward(I, q):
        return net.qvf(I, q, cnn=lambda I: reads_x_after_relu(net.cnn[1](net.cnn[0](I))))

    result = explain(forward, images, words, relus=net)
    with torch.no_grad():
        assert torch.equal(result.outputs[1], forward(images, words)[1])
    assert not torch.equal(result.grad_v, explain(forward, images, words, relus=net, guided=False).grad_v)


def test_an_inplace_relu_may_change_the_models_inputs(torch):
    """forward is given copies that are not leaves: an in-place ReLU first on the images is what torch allows
    outside the explanation, and the caller's images are left as they were."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval().cnn[2].inplace = True
    given = images - 0.5

    def forward(I, q):
        return net.qvf(I, q, cnn=lambda I: net.cnn[:2](net.cnn[2](I)))

    result = explain(forward, given, words, relus=net)
    with torch.no_grad():
        assert torch.equal(result.outputs[1], forward(given.clone(), words)[1])
    assert (given < 0).any() and torch.count_nonzero(result.grad_v[given < 0]) == 0


def test_forward_must_be_callable_and_the_inputs_of_the_models_dtype(torch):
    """A float64 or float16 input of a float32 model failed inside its first layer; forward="x" inside the call."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    with pytest.raises(TypeError, match=r"forward must be a function of \(I, q\) returning \(Q, V, F\).*not str"):
        explain("x", images, words, relus=net)
    for I, q, name, dtype in ((images.double(), words, "images", "float64"),
                              (images.half(), words, "images", "float16"),
                              (images, words.double(), "words", "float64")):
        with pytest.raises(TypeError, match=rf"{name} are torch.{dtype} but the model's parameters are torch.float32: "
                                            rf"pass {name}.to\(torch.float32\)"):
            explain(net.qvf, I, q)
    assert explain(net.double().qvf, images.double(), words.double()).grad_v.dtype == torch.float64


def test_a_model_or_inputs_on_the_meta_device_are_refused_in_one_line(torch):
    """Inputs on 'meta' failed in torch's .item() (isfinite); a model on 'meta' failed inside its forward."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    with pytest.raises(ValueError, match="images are on the meta device and hold no values"):
        explain(net.qvf, images.to("meta"), words)
    with pytest.raises(ValueError, match="words are on the meta device and hold no values"):
        explain(net.qvf, images, words.to("meta"))
    with pytest.raises(ValueError, match=r"the model's parameters or buffers are on the meta device.*to_empty"):
        explain(net.to("meta").qvf, images, words)


def test_a_relu_on_vs_path_that_is_no_module_of_relus_is_refused(torch):
    """F.relu on V's path passed its plain gradient in the guided pass, silently (∇v 86 % off on a small CNN).
    On Q's path, or with guided=False, it is as a module would give."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    functional = torch.nn.Sequential(net.cnn[0], torch.nn.Identity())
    for relu in (torch.nn.functional.relu, torch.relu, torch.Tensor.relu_):
        def forward(I, q, relu=relu):
            V = torch.tanh(net.image(relu(functional(I)).mean((2, 3))))
            Q = torch.tanh(net.words(q).mean(1))
            return Q, V, Q * V
        with pytest.raises(ValueError, match=r"V's gradient goes through a ReLU that is not an nn\.ReLU module"):
            explain(forward, images, words, relus=net)
        assert explain(forward, images, words, relus=net, guided=False).grad_v.abs().max() > 0
    expected = explain(net.qvf, images, words)
    result = explain(lambda I, q: net.qvf(I, torch.relu(q + 9) - 9), images, words, relus=net)  # on Q's path
    assert torch.allclose(result.grad_q, expected.grad_q) and torch.allclose(result.grad_v, expected.grad_v)


def test_a_relu_that_records_no_gradient_is_torchs_own(torch):
    """A ReLU autograd does not record was computed by the rectifier all the same: F.relu6 of an int64 tensor
    came back float32, and torch.relu of a bool tensor, which torch refuses, came back int64."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    seen = []

    def forward(I, q):
        counts = torch.arange(-3, 9)
        seen.append((torch.nn.functional.relu6(counts), torch.relu(counts)))
        with pytest.raises(RuntimeError, match="Boolean inputs not supported"):
            torch.relu(counts > 0)
        return net.qvf(I, q)

    explain(forward, images, words, relus=net)
    expected = (torch.nn.functional.relu6(torch.arange(-3, 9)), torch.relu(torch.arange(-3, 9)))
    assert all(y.dtype == torch.int64 and torch.equal(y, e) for y, e in zip(seen[0], expected))


def test_an_nn_relu6_outside_relus_on_vs_path_is_refused(torch):
    """nn.ReLU6 computes F.hardtanh(x, 0, 6), which was not seen: outside relus it passed its plain gradient in
    the guided pass, silently. F.hardtanh from 0 is refused as F.relu6 is; from -1 it is no ReLU, and passes."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    F = torch.nn.functional
    for relu6 in (torch.nn.ReLU6(), torch.nn.ReLU6(inplace=True), lambda x: F.hardtanh(x, 0.0, 6.0),
                  lambda x: F.hardtanh_(x, max_val=6.0, min_val=0.0)):
        with pytest.raises(ValueError, match=r"V's gradient goes through a ReLU that is not an nn\.ReLU module"):
            explain(lambda I, q, relu6=relu6: net.qvf(I, q, lambda x: relu6(net.cnn(x) - 0.1)), images, words,
                    relus=net)
    result = explain(lambda I, q: net.qvf(I, q, lambda x: F.hardtanh(torch.nn.Hardtanh()(net.cnn(x)), 0.0, 0.0)),
                     images, words, relus=net)  # no ReLUs: torch's own
    assert torch.equal(result.grad_v, torch.zeros_like(images))


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")  # deprecated, yet users' models still hold scripts
def test_a_torchscript_module_with_relus_is_refused_for_guided_backprop(torch):
    """A scripted module's ReLUs are out of reach of the patch and of the functional check: on V's path they passed
    their plain gradient in the guided pass, silently, beside nn.ReLU modules that were patched."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()

    class Rectified(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.relu(x - 0.1)

    for script in (torch.jit.script(Rectified()), torch.jit.trace(Rectified(), torch.randn(2, 3))):
        holder = torch.nn.ModuleDict({"net": net, "script": script}).eval()
        forward = lambda I, q, script=script: net.qvf(I, q, lambda x: script(net.cnn(x)))  # noqa: E731
        with pytest.raises(ValueError, match="relus' module script is TorchScript"):
            explain(forward, images, words, relus=holder)
        assert explain(forward, images, words, relus=holder, guided=False).grad_v.abs().max() > 0
    plain = torch.nn.ModuleDict({"net": net, "script": torch.jit.script(torch.nn.Identity())}).eval()
    explain(lambda I, q: net.qvf(I, q), images, words, relus=plain)  # a script with no ReLU: nothing to refuse


def test_a_relu_written_as_a_clamp_or_a_threshold_on_vs_path_is_refused(torch):
    """clamp(x, min=0), clip, clamp_min and F.threshold(x, 0, 0) are ReLUs too: on V's path they passed their plain
    gradient in the guided pass, silently. Other bounds, thresholds or values, or a bound per element, are no ReLU
    and pass as torch computes them, unrefused (the rectifier would refuse them on V's path), values alike."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()
    F, zero = torch.nn.functional, torch.tensor(0.0)
    relus = (lambda x: torch.clamp(x, min=0), lambda x: x.clamp(min=0), lambda x: x.clamp_(min=0),
             lambda x: torch.clamp_min(x, 0), lambda x: x.clamp_min(0.0), lambda x: x.clamp_min_(0),
             lambda x: torch.clip(x, 0), lambda x: x.clip(min=0), lambda x: torch.clamp(x, 0, 6),
             lambda x: x.clamp(zero, torch.tensor(6.0)), lambda x: F.threshold(x, 0.0, 0.0),
             lambda x: F.threshold_(x, threshold=0.0, value=0.0), lambda x: torch.nn.Threshold(0.0, 0.0)(x))
    for relu in relus:
        with pytest.raises(ValueError, match=r"V's gradient goes through a ReLU that is not an nn\.ReLU module"):
            explain(lambda I, q, relu=relu: net.qvf(I, q, lambda x: relu(net.cnn[0](x) - 0.1)), images, words,
                    relus=net)
    others = (lambda x: torch.clamp(x, min=-1), lambda x: x.clamp(max=0.5), lambda x: x.clamp_(-0.2, 0.3),
              lambda x: torch.clamp(x, 0, 0), lambda x: F.threshold(x, 0.0, 0.5), lambda x: F.threshold(x, 0.1, 0.0),
              lambda x: x.clamp(min=torch.zeros(1, 4, 1, 1)), lambda x: x.clamp(min=zero.requires_grad_()))
    for other in others:
        forward = lambda I, q, other=other: net.qvf(I, q, lambda x: net.cnn[2](other(net.cnn[0](x) - 0.1)))  # noqa: E731
        Q, V, _ = explain(forward, images, words, relus=net).outputs
        with torch.no_grad():
            assert all(torch.equal(*pair) for pair in zip(forward(images, words), (Q, V)))


@pytest.mark.filterwarnings("ignore:`torch.jit.:DeprecationWarning")
def test_a_torchscript_relu_reached_outside_relus_on_vs_path_is_refused(torch):
    """A script module or traced function that ``forward`` calls (not in relus) ran its ReLUs past the patch
    and the functional check: their plain gradient in the guided pass, silently, on every call (a script's optimised
    runs as one opaque node). On Q's path, or with no ReLU in it, it passes."""
    net, images, words = with_dropout_and_batch_norm(torch)
    net.eval()

    class Rectified(torch.nn.Module):
        def forward(self, x):
            return torch.nn.functional.relu(x - 0.1)

    scripts = (torch.jit.script(Rectified()), torch.jit.trace(Rectified(), torch.randn(2, 3)),
               torch.jit.trace(lambda x: x.clamp(min=0) * 2, torch.randn(2, 3)))
    for script in scripts:
        for _ in range(3):  # a script profiles its first runs, then runs its optimised graph
            with pytest.raises(ValueError, match="V's gradient goes through a ReLU that guided backprop cannot reach"):
                explain(lambda I, q, script=script: net.qvf(I, q, lambda x: script(net.cnn(x))), images, words,
                        relus=net)
        explain(lambda I, q, script=script: net.qvf(I, script(q)), images, words, relus=net)  # on Q's path
    identity = torch.jit.script(torch.nn.Identity())
    for _ in range(3):
        explain(lambda I, q: net.qvf(I, q, lambda x: identity(net.cnn(x))), images, words, relus=net)
