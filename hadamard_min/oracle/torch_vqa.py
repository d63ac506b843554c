"""The whole VQA model (``models/vqa.py``) in plain torch on the same weights, and its explanation (eq. 2-3).

    image I ──ResNet (torch_models.torch_resnet)──▶ F ──┐
    ids ──nn.Embedding──▶ q ──GRU──▶ question vector ───┴── MLB (eq. 4-7) ──▶ α, Q, V, F, logits

The GRU is ``torch.nn.GRU`` over packed sequences for the "reset_after" candidate (PyTorch's own) and a loop
of cells for "reset_before"; MLB is written with ``nn.Linear`` layers of the same names. ``explain`` is the
public ``torch_explain.explain_torch`` on this network, which equals ``explain.hadamard.deviation_gradients``
with its defaults (F held constant, the paper's sign, guided ReLUs): ∇q = ∂/∂q ½‖Q − F‖², ∇v = ∂/∂I ½‖V − F‖².
Eval mode only (no dropout); float32 or float64.
"""
from hadamard_min.oracle.torch_models import import_torch, torch_resnet


def torch_vqa(model, torch=None):
    """The torch copy of our ``VQAModel`` ``model``, its weights copied in, frozen and in eval mode."""
    torch = import_torch(torch)
    nn = torch.nn
    config = model.config()
    backbone_config = config["backbone"]
    glimpses, joint, hidden = config["glimpses"], config["joint_dim"], config["question_dim"]
    visual, attention = config["visual_dim"], config["attention_dim"]
    reset_after = config["candidate"] == "reset_after"

    class TorchVQA(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = torch_resnet(torch, backbone_config["layers"], backbone_config.get("width", 64),
                                         backbone_config.get("num_classes", 1))
            self.embedding = nn.Embedding(config["num_words"], config["word_dim"])
            self.gru = nn.GRU(config["word_dim"], hidden, batch_first=True)
            self.linear_q_att, self.conv_v_att = nn.Linear(hidden, attention), nn.Linear(visual, attention)
            self.conv_att = nn.Linear(attention, glimpses)
            self.list_linear_v_fusion = nn.ModuleList(nn.Linear(visual, joint) for _ in range(glimpses))
            self.linear_q_fusion = nn.Linear(hidden, glimpses * joint)
            self.linear_classif = nn.Linear(glimpses * joint, config["num_answers"])

        def encode(self, words, lengths):
            """The GRU's state after each question's last word, (B, N)."""
            if reset_after:
                packed = nn.utils.rnn.pack_padded_sequence(words, lengths, batch_first=True, enforce_sorted=False)
                return self.gru(packed)[1][0]
            w_ih, w_hh, b_ih, b_hh = self.gru.weight_ih_l0, self.gru.weight_hh_l0, self.gru.bias_ih_l0, \
                self.gru.bias_hh_l0
            h = words.new_zeros(len(words), hidden)
            for t in range(words.shape[1]):
                x_r, x_z, x_n = (words[:, t] @ w_ih.T + b_ih).chunk(3, 1)
                h_r, h_z, _ = (h @ w_hh.T + b_hh).chunk(3, 1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                n = torch.tanh(x_n + (r * h) @ w_hh[2 * hidden:].T + b_hh[2 * hidden:])
                active = (t < lengths).to(words)[:, None]
                h = active * ((1 - z) * n + z * h) + (1 - active) * h
            return h

        def forward(self, images, words, lengths):
            """A dict of α, Q, V, F and logits (eq. 4-7) for images (B, 3, H, W) and word vectors (B, T, D)."""
            features = self.backbone.features(images, pre_relu=config["pre_relu"])
            if features.requires_grad:  # torch 2.13's CPU backward of a 1×1 stride-2 convolution goes wrong
                features.register_hook(lambda grad: grad.contiguous())  # on a transposed incoming gradient
            batch, _, size, _ = features.shape
            grid = features.flatten(2).transpose(1, 2)                                    # (B, S², M)
            question = self.encode(words, lengths)
            joint_att = torch.tanh(self.conv_v_att(grid)) * torch.tanh(self.linear_q_att(question))[:, None]
            if config["tanh_after_attention"]:
                joint_att = torch.tanh(joint_att)
            alpha = torch.softmax(self.conv_att(joint_att), dim=1).transpose(1, 2)       # eq. 4 (B, G, S²)
            attended = alpha @ grid                                                       # eq. 5 (B, G, M)
            V = torch.cat([torch.tanh(linear(attended[:, g])) for g, linear in enumerate(self.list_linear_v_fusion)],
                          dim=1)
            Q = torch.tanh(self.linear_q_fusion(question))
            F = Q * V                                                                     # eq. 6
            logits = self.linear_classif(torch.tanh(F) if config["tanh_before_classifier"] else F)
            return {"alpha": alpha.reshape(batch, glimpses, size, size), "Q": Q, "V": V, "F": F, "logits": logits}

        def explain(self, images, ids, lengths):
            """(∇v, ∇q, out) for images (B, 3, H, W) and word ids (B, T), as tensors: eq. 2-3, guided."""
            from hadamard_min.torch_explain import explain_torch

            result = explain_torch(lambda I, q: self(I, q, lengths), images, self.embedding(ids), relus=self,
                                   lengths=lengths)
            return result.grad_v, result.grad_q, result.outputs

    state = {_torch_name(name): torch.from_numpy(array) for name, array in model.state_dict().items()}
    net = TorchVQA().to(next(iter(state.values())).dtype)  # before loading: torch copies into the dtype it has
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [name for name in missing if not name.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise ValueError(f"the model's weights do not fit its torch copy: missing {missing[:5]}, "
                         f"unexpected {unexpected[:5]}")
    return net.eval().requires_grad_(False)


def _torch_name(name):
    """Our parameter name → the torch copy's: the GRU's weights carry torch's layer suffix ``_l0``."""
    for prefix, rename in (("encoder.gru.", "gru."), ("encoder.embedding.", "embedding."), ("mlb.", "")):
        if name.startswith(prefix):
            name = rename + name[len(prefix):]
            return name + "_l0" if rename == "gru." else name
    return name
