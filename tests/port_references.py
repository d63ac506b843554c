"""Reference models for the porting tests, written from the published code's layouts (not from ours).

- ``VqaPytorchMLB``: vqa.pytorch's ``MLBAtt`` + ``BayesianUniSkip`` in plain torch, parameter names as its
  checkpoints (``seq2vec.rnn.gru_cell.weight_ir`` …), eval-mode forward.
- ``torch7_mlb_logits``: netdef/MLB.lua + rnn's GRU in NumPy, reading the flat ``MLB.t7`` vector itself.
- ``skipthoughts_state``: skip-thoughts' ``gru_layer`` step in NumPy (row-vector convention).
- ``rnn_gru_module``: the nn.GRU module tree of Element-Research rnn's GRU.lua, as ``torch.save`` writes it.
"""
import numpy

from hadamard_min.io.porting.torch7 import TorchObject


def sigmoid(x):
    return 1 / (1 + numpy.exp(-x))


def softmax(x, axis):
    e = numpy.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


# ----------------------------------------------------------------------------------- vqa.pytorch
def vqa_pytorch_mlb(torch, V, D, N, M, A, G, J, K):
    """vqa.pytorch's MLB with attention (all options tanh), as a torch module with its parameter names."""
    nn, F = torch.nn, torch.nn.functional

    class GRUCell(nn.Module):
        def __init__(self):
            super().__init__()
            for gate in "rin":
                setattr(self, f"weight_i{gate}", nn.Linear(D, N))
                setattr(self, f"weight_h{gate}", nn.Linear(N, N, bias=False))

        def forward(self, x, h):
            r = torch.sigmoid(self.weight_ir(x) + self.weight_hr(h))
            i = torch.sigmoid(self.weight_ii(x) + self.weight_hi(h))
            n = torch.tanh(self.weight_in(x) + r * self.weight_hn(h))
            return (1 - i) * n + i * h

    class Seq2Vec(nn.Module):
        def __init__(self):
            super().__init__()
            self.embedding = nn.Embedding(V + 1, D, padding_idx=0)
            self.rnn = nn.Module()
            self.rnn.gru_cell = GRUCell()

        def forward(self, ids):                       # ids (B, T), padded with 0 at the end
            lengths = (ids != 0).sum(1)
            x, h, states = self.embedding(ids), torch.zeros(ids.shape[0], N), []
            for t in range(ids.shape[1]):
                h = self.rnn.gru_cell(x[:, t], h)
                states.append(h)
            return torch.stack(states, 1)[torch.arange(ids.shape[0]), lengths - 1]

    class MLBAtt(nn.Module):
        def __init__(self):
            super().__init__()
            self.seq2vec = Seq2Vec()
            self.conv_v_att = nn.Conv2d(M, A, 1, 1)
            self.linear_q_att = nn.Linear(N, A)
            self.conv_att = nn.Conv2d(A, G, 1, 1)
            self.list_linear_v_fusion = nn.ModuleList([nn.Linear(M, J) for _ in range(G)])
            self.linear_q_fusion = nn.Linear(N, J * G)
            self.linear_classif = nn.Linear(J * G, K)

        def forward(self, v, ids):                    # v (B, M, S, S)
            q = self.seq2vec(ids)
            B, _, S, _ = v.shape
            x_v = torch.tanh(self.conv_v_att(v)).view(B, A, S * S).transpose(1, 2)
            x_q = torch.tanh(self.linear_q_att(q)).view(B, 1, A)
            x_att = torch.tanh(x_v * x_q)                                   # tanh after the product
            x_att = self.conv_att(x_att.transpose(1, 2).reshape(B, A, S, S)).view(B, G, S * S)
            alpha = F.softmax(x_att, dim=2)
            grid = v.view(B, M, S * S).transpose(1, 2)
            x_v = torch.cat([torch.tanh(linear(torch.bmm(alpha[:, g:g + 1], grid)[:, 0]))   # Σ_s α_s F_s
                             for g, linear in enumerate(self.list_linear_v_fusion)], 1)
            x_q = torch.tanh(self.linear_q_fusion(q))
            return self.linear_classif(torch.tanh(x_v * x_q))                # tanh before the classifier

    return MLBAtt().eval()


# ----------------------------------------------------------------------------------- Torch7 MLB
def torch7_order(V, D, N, M, C, G, K):
    """MLB.t7's order, written out from train.lua/netdef/MLB.lua/GRU.lua for the reference."""
    order = [("lookup", (V + 1, D)), ("W_r", (N, D)), ("b_r", (N,)), ("W_z", (N, D)), ("b_z", (N,)),
             ("U_r", (N, N)), ("U_z", (N, N)), ("W_x", (N, D)), ("b_x", (N,)), ("U_x", (N, N)),
             ("q_att_w", (C, N)), ("q_att_b", (C,)), ("v_att_w", (C, M)), ("v_att_b", (C,)),
             ("att_w", (G, C, 1, 1)), ("att_b", (G,)), ("q_fus_w", (G * C, N)), ("q_fus_b", (G * C,))]
    for g in range(G):
        order += [(f"v_fus_w{g}", (C, M)), (f"v_fus_b{g}", (C,))]
    return order + [("cls_w", (K, G * C)), ("cls_b", (K,))]


def unflatten(vector, order):
    params, start = {}, 0
    for name, shape in order:
        size = int(numpy.prod(shape))
        params[name] = vector[start:start + size].reshape(shape).astype(numpy.float64)
        start += size
    assert start == vector.size
    return params


def rnn_gru_states(p, word_vectors, ids):
    """rnn's GRU over right-aligned ids with trimZero (the state stays 0 over the leading padding)."""
    h = numpy.zeros((ids.shape[0], p["U_x"].shape[0]))
    for t in range(ids.shape[1]):
        x = word_vectors[:, t]
        r = sigmoid(x @ p["W_r"].T + p["b_r"] + h @ p["U_r"].T)
        z = sigmoid(x @ p["W_z"].T + p["b_z"] + h @ p["U_z"].T)
        n = numpy.tanh(x @ p["W_x"].T + p["b_x"] + (r * h) @ p["U_x"].T)     # U_x (r ∘ h): reset before
        h = numpy.where((ids[:, t] != 0)[:, None], (1 - z) * n + z * h, 0.0)
    return h


def torch7_mlb_logits(p, ids_right_aligned, features):
    """netdef/MLB.lua's forward (no tanh after the product, none before the classifier), in float64."""
    q = rnn_gru_states(p, p["lookup"][ids_right_aligned], ids_right_aligned)
    B, M, S, _ = features.shape
    grid = features.reshape(B, M, S * S).transpose(0, 2, 1).astype(numpy.float64)
    q_att = numpy.tanh(q @ p["q_att_w"].T + p["q_att_b"])[:, None]
    joint = numpy.tanh(grid @ p["v_att_w"].T + p["v_att_b"]) * q_att                    # no tanh after
    G = p["att_b"].size
    alpha = softmax(joint @ p["att_w"].reshape(G, -1).T + p["att_b"], axis=1)          # (B, S², G)
    V = numpy.concatenate([numpy.tanh(numpy.einsum("bs,bsm->bm", alpha[:, :, g], grid) @ p[f"v_fus_w{g}"].T
                                      + p[f"v_fus_b{g}"]) for g in range(G)], axis=1)
    Q = numpy.tanh(q @ p["q_fus_w"].T + p["q_fus_b"])
    return (Q * V) @ p["cls_w"].T + p["cls_b"]


def _module(name, **fields):
    return TorchObject(name, fields)


def _linear(weight, bias=None):
    """nn.Linear / nn.LinearNoBias as saved: weight, bias and their gradient buffers."""
    fields = {"weight": weight, "gradWeight": numpy.zeros_like(weight)}
    if bias is not None:
        fields.update(bias=bias, gradBias=numpy.zeros_like(bias))
    return _module("nn.Linear" if bias is not None else "nn.LinearNoBias", **fields)


def _seq(*modules, name="nn.Sequential"):
    return _module(name, modules=list(modules), output=numpy.zeros(0, numpy.float32))


def rnn_gru_module(params, bayesian):
    """The nn.GRU module tree of GRU.lua's buildModel (6 parameters, or 9 with dropout p > 0)."""
    drop = _module("nn.Dropout", p=0.25)
    if bayesian:
        W_r, b_r, W_z, b_z, U_r, U_z, W_x, b_x, U_x = params
        i2g = _seq(_seq(drop, drop, name="nn.ConcatTable"),
                   _seq(_linear(W_r, b_r), _linear(W_z, b_z), name="nn.ParallelTable"),
                   _module("nn.JoinTable"))
        o2g = _seq(_seq(drop, drop, name="nn.ConcatTable"),
                   _seq(_linear(U_r), _linear(U_z), name="nn.ParallelTable"), _module("nn.JoinTable"))
    else:
        W, b, U, W_x, b_x, U_x = params
        i2g, o2g = _linear(W, b), _linear(U)
    gates = _seq(_seq(i2g, o2g, name="nn.ParallelTable"), _module("nn.CAddTable"), _module("nn.Reshape"),
                 _module("nn.SplitTable"),
                 _seq(_module("nn.Sigmoid"), _module("nn.Sigmoid"), name="nn.ParallelTable"))
    t1 = _seq(_module("nn.SelectTable"), *([drop] if bayesian else []), _linear(W_x, b_x))
    t2 = _seq(_module("nn.NarrowTable"), _module("nn.CMulTable"), *([drop] if bayesian else []), _linear(U_x))
    hidden = _seq(_seq(t1, t2, name="nn.ConcatTable"), _module("nn.CAddTable"), _module("nn.Tanh"))
    z1 = _seq(_module("nn.SelectTable"), _module("nn.SAdd", addend=-1.0, negate=True))
    o1 = _seq(_seq(hidden, z1, name="nn.ConcatTable"), _module("nn.CMulTable"))
    o2 = _seq(_seq(o1, _seq(_module("nn.NarrowTable"), _module("nn.CMulTable")), name="nn.ConcatTable"),
              _module("nn.CAddTable"))
    step = _seq(_seq(_module("nn.Identity"), gates, name="nn.ConcatTable"), _module("nn.FlattenTable"),
                _module("nn.ConcatTable"), _module("nn.FlattenTable"), o2)
    return _module("nn.GRU", modules=[step], inputSize=float(W_x.shape[1]), outputSize=float(W_x.shape[0]),
                   p=0.25 if bayesian else 0.0, rho=9999.0, train=False)


# ----------------------------------------------------------------------------------- skip-thoughts
def skipthoughts_state(p, word_vectors):
    """skip-thoughts' gru_layer over (T, D) word vectors of one sentence: the last state (H,)."""
    H = p["encoder_Ux"].shape[0]
    h = numpy.zeros(H)
    for x in word_vectors.astype(numpy.float64):
        preact = h @ p["encoder_U"] + x @ p["encoder_W"] + p["encoder_b"]
        r, u = sigmoid(preact[:H]), sigmoid(preact[H:])
        n = numpy.tanh((h @ p["encoder_Ux"]) * r + x @ p["encoder_Wx"] + p["encoder_bx"])
        h = u * h + (1 - u) * n
    return h
