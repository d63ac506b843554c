"""Exercise 9, the blank filled."""
from hadamard_min import ops


def mlb_forward(mlb, question, features):
    batch, channels, size, _ = features.shape
    grid = ops.transpose(ops.reshape(features, (batch, channels, size * size)), (0, 2, 1))
    q_att = ops.tanh(mlb.linear_q_att(question))
    v_att = ops.tanh(mlb.conv_v_att(grid))
    scores = mlb.conv_att(v_att * ops.reshape(q_att, (batch, 1, -1)))
    alpha = ops.transpose(ops.softmax(scores, axis=1), (0, 2, 1))
    attended = ops.matmul(alpha, grid)
    V = ops.concatenate([ops.tanh(linear(attended[:, g])) for g, linear in enumerate(mlb.list_linear_v_fusion)],
                        axis=1)
    Q = ops.tanh(mlb.linear_q_fusion(question))
    F = Q * V
    return ops.reshape(alpha, (batch, mlb.glimpses, size, size)), Q, V, F, mlb.linear_classif(F)
