"""Exercise 8, the blank filled."""
import numpy


class GRUCell:
    def backward(self, dh_new):
        w_ih, w_hh, _, _ = self.weights
        h, r, z, g, n = self.saved
        dn, dz, dh = dh_new * (1 - z), dh_new * (h - n), dh_new * z
        da_n = dn * (1 - n * n)
        dr, dg = da_n * g, da_n * r
        da_z, da_r = dz * z * (1 - z), dr * r * (1 - r)
        dx = numpy.concatenate([da_r, da_z, da_n], axis=1) @ w_ih
        dh = dh + numpy.concatenate([da_r, da_z, dg], axis=1) @ w_hh
        return dx, dh
