"""The counterfactual question test: one image asked about each of its two shapes; does the map follow?

For a pair (image, q_a about shape a, q_b about the other shape b), with the referent share of
:func:`grounding.referent_share` (m(named) / (m(named) + m(other)), m = Σ_c|map|):

    referent switch   [share(map of q_a, a) > ½] · [share(map of q_b, b) > ½]
                      1 when the map's mass sits on the named shape under both questions, i.e. it moves
                      when only the question changes; a map that ignores the question scores 0 (its two
                      shares are s and 1 − s, never both above ½), a random map about ¼.

The evaluation takes as many pairs of each variant as it has examples. Two variants (the column names,
:data:`VARIANTS`):

    shapes differ          pairs of the two-shape test split: the same template ("what color is the {}?")
                           about each shape; the shapes differ in colour and in kind
    shapes share a colour  generated scenes whose shapes share a colour (even pairs) or a kind (odd pairs),
      or a kind            asked "is there a {color} {shape}?" about each: the questions differ in the one
                           word that tells the shapes apart, so attention cannot win by colour alone
"""
import numpy

from hadamard_min.data.twoshape import shared_pairs
from hadamard_min.evaluate import grounding

VARIANTS = ("shapes differ", "shapes share a colour or a kind")


def split_pairs(data, count, seed):
    """``(images, masks, pairs)`` of ``count`` seeded pairs of test questions about the two shapes of an image."""
    partners = grounding.partner_questions(data, numpy.arange(len(data.questions)))
    firsts = [q for q, p in enumerate(partners) if p >= 0 and data.referent[q] == 0]
    chosen = numpy.random.default_rng([seed, 5]).permutation(firsts)[:count]
    rows = data.image_index[chosen]
    return data.images[rows], data.shape_masks[rows], [(data.questions[q], data.questions[partners[q]])
                                                       for q in chosen]


def network_pixels(model, images):
    return numpy.stack([model.prepare_image(image)[0] for image in images])


def switches(model, method, pixels, masks, pairs, rng):
    """``(switch, share a, share b)`` per pair (arrays) for one visual method; question a is about shape 0."""
    maps = [method(model, pixels, [pair[k] for pair in pairs], rng) for k in (0, 1)]
    size = pixels.shape[1:3]
    shares = numpy.array([[grounding.referent_share(maps[k][i], fitted(masks[i], size), k) for k in (0, 1)]
                          for i in range(len(pairs))])
    return ((shares > 0.5).all(axis=1).astype(numpy.float64), shares[:, 0], shares[:, 1])


def fitted(masks, size):
    """The two shape masks at the network's input size (nearest neighbour)."""
    return numpy.stack([grounding.fit_mask(m, *size) for m in masks])


def referent_switch(model, data, methods, count, seed, values, batch=16):
    """Add the referent switch of every method on ``count`` pairs of each variant to table "referent switch"."""
    variants = {VARIANTS[0]: split_pairs(data, count, seed), VARIANTS[1]: shared_pairs(count, seed)}
    rng = numpy.random.default_rng([seed, 6])
    for variant, (images, masks, pairs) in variants.items():
        pixels = network_pixels(model, images)
        for start in range(0, len(pairs), batch):
            part = slice(start, start + batch)
            for name, method in methods.items():
                switch, _, _ = switches(model, method, pixels[part], masks[part], pairs[part], rng)
                values.add("referent switch", name, variant, switch)
