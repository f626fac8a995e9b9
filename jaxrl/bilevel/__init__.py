"""Bi-level optimisation: hypergradients through an inner fixed point (exact IFT, Neumann series,
first-order), on arbitrary pytrees. See :mod:`jaxrl.bilevel.hypergradient` for the equations."""

from jaxrl.bilevel.hypergradient import (
    dense_jacobian,
    first_order_hypergradient,
    hypergradient,
    ift_hypergradient,
    neumann_hypergradient,
    neumann_inverse_vp,
)

__all__ = [
    "dense_jacobian",
    "first_order_hypergradient",
    "hypergradient",
    "ift_hypergradient",
    "neumann_hypergradient",
    "neumann_inverse_vp",
]
