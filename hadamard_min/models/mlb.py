"""MLB: multimodal low-rank bilinear attention networks (Kim et al. 2017), eq. 4-8 of the paper.

Inputs: the question vector q (B, N) and the visual feature grid F (B, M, S, S), read as S² vectors F_s.
σ is tanh; every linear map has a bias (the paper omits them "for simplicity").

    eq. 4   α   = softmax( P_αᵀ ( σ(U_qᵀ q · 1ᵀ) ∘ σ(V_Fᵀ Fᵀ) ) )        α ∈ R^{G × S²}, softmax per glimpse
    eq. 5   v̂   = ‖_g Σ_s α_{g,s} F_s                                   G attended vectors of the raw features
    eq. 6   Q   = σ(W_qᵀ q),   V = ‖_g σ(V_{v,g}ᵀ v̂_g),   F = Q ∘ V      each (B, G·J)
    eq. 7   p(a | q, image) = softmax(P_oᵀ F)      F = Q ∘ V of eq. 6 (the logits P_oᵀ F are returned)
    eq. 8   â   = argmax_a p(a | q, image)

Parameter names follow vqa.pytorch's ``MLBAtt`` so that a port is a renaming-free copy: the 1×1
convolutions ``conv_v_att`` (V_F) and ``conv_att`` (P_α) are written as linear maps over the channel
axis, weights (out, in) (a port drops the trailing 1×1 of the conv weights).

    linear_q_att  U_q (A × N)     conv_v_att  V_F (A × M)     conv_att  P_α (G × A)
    list_linear_v_fusion.g  V_{v,g} (J × M)    linear_q_fusion  W_q (G·J × N)    linear_classif  P_o (K × G·J)

Dropout (training only) sits where the original netdef/MLB.lua put it: before U_q, before V_F, before
each V_{v,g}, before W_q and before P_o. The vqa.pytorch variant adds tanh (and dropout) after the
attention product (``tanh_after_attention``) and tanh before the classifier (``tanh_before_classifier``);
F stays Q ∘ V either way.
"""
from dataclasses import dataclass

import numpy

from hadamard_min import ops
from hadamard_min.core.tensor import Tensor
from hadamard_min.nn.layers import Linear
from hadamard_min.nn.module import Module, Sequential


@dataclass
class MLBOutput:
    """Every intermediate the explanation needs (B = batch, G = glimpses, J = joint size per glimpse)."""
    alpha: Tensor      # (B, G, S, S)  attention distributions, eq. 4
    attended: Tensor   # (B, G, M)     v̂_g, eq. 5
    Q: Tensor          # (B, G·J)      textual input of the Hadamard product, eq. 6
    V: Tensor          # (B, G·J)      visual input of the Hadamard product, eq. 6
    F: Tensor          # (B, G·J)      F = Q ∘ V, eq. 6
    logits: Tensor     # (B, K)        P_oᵀ F, eq. 7 before its softmax


class MLB(Module):
    """Low-rank bilinear attention (eq. 4-5) and fusion (eq. 6-7).

    question_dim N, visual_dim M, joint_dim J (per glimpse), glimpses G, num_answers K,
    attention_dim A (default J), dropout p (training only).
    """

    def __init__(self, question_dim, visual_dim, joint_dim, glimpses, num_answers, attention_dim=None,
                 dropout=0.5, tanh_after_attention=False, tanh_before_classifier=False, rng=None):
        rng = rng or numpy.random.default_rng(0)
        attention_dim = attention_dim or joint_dim
        self.linear_q_att = Linear(question_dim, attention_dim, rng=rng)
        self.conv_v_att = Linear(visual_dim, attention_dim, rng=rng)
        self.conv_att = Linear(attention_dim, glimpses, rng=rng)
        self.list_linear_v_fusion = Sequential(*[Linear(visual_dim, joint_dim, rng=rng)
                                                for _ in range(glimpses)])
        self.linear_q_fusion = Linear(question_dim, glimpses * joint_dim, rng=rng)
        self.linear_classif = Linear(glimpses * joint_dim, num_answers, rng=rng)
        self.glimpses, self.dropout = glimpses, dropout
        self.tanh_after_attention = tanh_after_attention
        self.tanh_before_classifier = tanh_before_classifier
        self.arguments = {"question_dim": question_dim, "visual_dim": visual_dim, "joint_dim": joint_dim,
                          "glimpses": glimpses, "num_answers": num_answers, "attention_dim": attention_dim,
                          "dropout": dropout, "tanh_after_attention": tanh_after_attention,
                          "tanh_before_classifier": tanh_before_classifier}

    def config(self):
        """The constructor's arguments (``MLB(**mlb.config())`` rebuilds the architecture)."""
        return dict(self.arguments)

    def _drop(self, x):
        return ops.dropout(x, self.dropout, self.training)

    def attention(self, q, grid):
        """eq. 4: α (B, G, S²) from q (B, N) and the grid F (B, S², M)."""
        batch = q.shape[0]
        q_att = ops.tanh(self.linear_q_att(self._drop(q)))                 # σ(U_qᵀ q)          (B, A)
        v_att = ops.tanh(self.conv_v_att(self._drop(grid)))                # σ(V_Fᵀ Fᵀ)         (B, S², A)
        joint = v_att * ops.reshape(q_att, (batch, 1, -1))                # · 1ᵀ, then ∘       (B, S², A)
        if self.tanh_after_attention:
            joint = self._drop(ops.tanh(joint))
        scores = self.conv_att(joint)                                      # P_αᵀ (…)           (B, S², G)
        return ops.transpose(ops.softmax(scores, axis=1), (0, 2, 1))       # softmax over S²    (B, G, S²)

    @staticmethod
    def grid(features):
        """The feature map (B, M, S, S) read as S² vectors F_s: (B, S², M)."""
        batch, channels, size, _ = features.shape
        return ops.transpose(ops.reshape(features, (batch, channels, size * size)), (0, 2, 1))

    def visual(self, alpha, grid):
        """eq. 5-6: (v̂ (B, G, M), V (B, G·J)) from α (B, G, S²) and the grid F (B, S², M)."""
        attended = ops.matmul(alpha, grid)                                 # eq. 5: Σ_s α_{g,s} F_s  (B, G, M)
        V = ops.concatenate([ops.tanh(linear(self._drop(attended[:, g])))  # eq. 6: σ(V_{v,g}ᵀ v̂_g), ‖_g
                             for g, linear in enumerate(self.list_linear_v_fusion)], axis=1)
        return attended, V

    def forward(self, q, features):
        """q (B, N), features (B, M, S, S) → :class:`MLBOutput`."""
        batch, _, size, _ = features.shape
        grid = self.grid(features)                                         # F (B, S², M)
        alpha = self.attention(q, grid)
        attended, V = self.visual(alpha, grid)
        Q = ops.tanh(self.linear_q_fusion(self._drop(q)))                  # eq. 6: σ(W_qᵀ q)
        F = Q * V                                                          # eq. 6: the Hadamard product
        joint = ops.tanh(F) if self.tanh_before_classifier else F
        logits = self.linear_classif(self._drop(joint))                    # eq. 7: P_oᵀ F
        alpha = ops.reshape(alpha, (batch, self.glimpses, size, size))
        return MLBOutput(alpha=alpha, attended=attended, Q=Q, V=V, F=F, logits=logits)
