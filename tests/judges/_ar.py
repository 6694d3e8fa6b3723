"""Seeded AR(1) series shared by the judge tests."""

from __future__ import annotations

import math

import numpy as np


def ar1(rng: np.random.Generator, phi: float, n: int) -> np.ndarray:
    """A stationary Gaussian AR(1) series of length ``n`` with unit variance."""
    x = np.empty(n)
    x[0] = rng.standard_normal()
    for t in range(1, n):
        x[t] = phi * x[t - 1] + math.sqrt(1 - phi * phi) * rng.standard_normal()
    return x
