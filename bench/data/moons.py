"""``moons`` and ``moons-rot/<degrees>``: the DANN paper's toy (Ganin et al., 2016, section 5.1).

Two interleaving half-moons (scikit-learn's ``make_moons``) as a 2-D ``vector`` domain; the target
``moons-rot/30`` is a *fresh* sample of the same distribution rotated by 30 degrees about the centre
of the moons, so a classifier fitted to the source loses accuracy on the target's outer tips.
Seconds-fast with the ``mlp`` backbone: the harness's own end-to-end check of adaptation methods.
"""
from __future__ import annotations

import math

import numpy as np
import torch

from bench.data.base import DOMAINS, Domain, Split
from bench.data.digits import stratified_splits

N_SAMPLES = 1200
NOISE = 0.1
SPLIT_SEED = 7
CENTRE = np.array([0.5, 0.25])  # centre of make_moons' two half circles


def _moons(seed: int, degrees: float) -> Domain:
    from sklearn.datasets import make_moons  # lazy: sklearn costs ~1 s to import

    x, y = make_moons(N_SAMPLES, noise=NOISE, random_state=seed)
    t = math.radians(degrees)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    x = (x - CENTRE) @ rot.T + CENTRE
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y, dtype=torch.long)
    splits = [torch.as_tensor(s) for s in stratified_splits(y, SPLIT_SEED)]
    name = "moons" if degrees == 0 else f"moons-rot/{degrees:g}"
    return Domain(name=name, modality="vector", classes=["upper", "lower"],
                  train=Split(xt[splits[0]], yt[splits[0]]), val=Split(xt[splits[1]], yt[splits[1]]),
                  test=Split(xt[splits[2]], yt[splits[2]]),
                  info={"source": "sklearn.datasets.make_moons", "noise": NOISE, "rotation_deg": degrees})


@DOMAINS.register("moons")
def build_moons(name: str = "moons") -> Domain:
    return _moons(seed=0, degrees=0.0)


@DOMAINS.register("moons-rot/*")
def build_rotated_moons(name: str) -> Domain:
    suffix = name.split("/", 1)[1]
    try:
        degrees = float(suffix)
    except ValueError:
        raise ValueError(f"{name!r}: expected moons-rot/<degrees>, e.g. moons-rot/30") from None
    domain = _moons(seed=1, degrees=degrees)
    domain.name = name  # keep the spelling the suite used (30 vs 30.0)
    return domain
