"""``vader/<tweets|movies|amazon|nyt>[@<n>]``: real short texts of four domains, binary sentiment.

The ground truth of Hutto & Gilbert's VADER paper (ICWSM 2014), fetched with ``bench data fetch
vader-reviews``: the ``vaderSentiment`` 3.3.2 sdist carries ``hutto_ICWSM_2014.tar.gz``, whose
``<domain>_GroundTruth.txt`` files hold tab-separated ``id``, the mean rating of at least 20 people
(-4..4) and the text: 4,200 tweets, 10,605 movie-review snippets, 3,708 Amazon-review snippets and
5,190 New York Times editorial snippets. The package is never installed.

Labels: ``negative`` below -0.5, ``positive`` above 0.5; the neutral band |rating| <= 0.5 is
dropped (declared in each domain's ``info``). Splits: seeded stratified 60 / 10 / 30, fixed by a
constant. ``@<n>`` keeps about ``n`` of the kept texts for a CPU budget: a fixed, class-stratified
share of each split of the full domain (train of ``vader/movies@1000`` lies inside train of
``vader/movies``, and so on), so the sizes and the class balance follow the full domain's.
Not to be confused with ``sentiment/*``, the embedded templated sentences.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from bench.data.base import DOMAINS, DataError, Domain, Split
from bench.data.digits import stratified_splits
from bench.sources import source_file

CLASSES = ["negative", "positive"]
FILES = {"tweets": "tweets", "movies": "movieReviewSnippets", "amazon": "amazonReviewSnippets",
         "nyt": "nytEditorialSnippets"}
NEUTRAL = 0.5  # |mean rating| <= NEUTRAL is dropped
SPLIT_SEED = 20261204  # fixed forever: changing it changes every stored vader result


def read_ground_truth(archive: Path, domain: str) -> tuple[list[str], np.ndarray]:
    """``(texts, mean ratings)`` of one domain's ``*_GroundTruth.txt`` inside the paper's tar.gz."""
    member = f"hutto_ICWSM_2014/{FILES[domain]}_GroundTruth.txt"
    try:
        with tarfile.open(archive) as t:
            raw = t.extractfile(member).read()  # type: ignore[union-attr]
    except (KeyError, AttributeError, tarfile.TarError, OSError) as e:
        raise DataError(f"{archive}: no readable {member} ({e}); run `bench data fetch vader-reviews`") from None
    texts, ratings = [], []
    for line in raw.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\t", 2)
        if len(parts) == 3 and parts[2].strip():
            ratings.append(float(parts[1]))
            texts.append(parts[2].strip())
    return texts, np.asarray(ratings)


def check(name: str) -> None:
    _domain(name)
    source_file("vader-reviews", "hutto_ICWSM_2014.tar.gz", verify=False)


def _domain(name: str) -> str:
    return _parse(name)[0]


def _parse(name: str) -> tuple[str, int | None]:
    """``vader/movies@1000`` -> ``("movies", 1000)``; no ``@``: ``None`` (the whole domain)."""
    domain, at, size = (name.split("/", 1)[1] if "/" in name else "").partition("@")
    if domain not in FILES or (at and not (size.isdigit() and int(size) > 0)):
        raise DataError(f"{name}: vader has {', '.join('vader/' + d for d in FILES)}, each optionally "
                        "@<n> (about n texts, e.g. vader/movies@1000)")
    return domain, int(size) if at else None


def subsample(splits: tuple[np.ndarray, ...], y: np.ndarray, n: int) -> tuple[np.ndarray, ...]:
    """About ``n`` of the indices in ``splits``: the same share of each class of each split, drawn
    with the fixed split seed (so ``@n`` is the same subset on every machine)."""
    total = sum(len(s) for s in splits)
    if n >= total:
        return splits
    rng = np.random.default_rng(SPLIT_SEED + n)
    out = []
    for s in splits:
        kept = [rng.permutation(s[y[s] == c])[:max(1, round(np.sum(y[s] == c) * n / total))]
                for c in np.unique(y[s])]
        out.append(np.sort(np.concatenate(kept)))
    return tuple(out)


def build(name: str) -> Domain:
    """VADER's human-rated texts (tweets, movies, amazon, nyt), neutral dropped; `bench data fetch vader-reviews`."""
    domain, size = _parse(name)
    texts, ratings = read_ground_truth(source_file("vader-reviews", "hutto_ICWSM_2014.tar.gz"), domain)
    keep = np.flatnonzero(np.abs(ratings) > NEUTRAL)
    y = (ratings[keep] > 0).astype(np.int64)
    kept = [texts[i] for i in keep]
    splits = stratified_splits(y, SPLIT_SEED, (0.6, 0.1, 0.3))
    if size is not None:
        splits = subsample(splits, y, size)
    yt = torch.as_tensor(y)
    tr, va, te = (Split([kept[i] for i in s], yt[torch.as_tensor(s)]) for s in splits)
    return Domain(name=name, modality="text", classes=list(CLASSES), train=tr, val=va, test=te,
                  info={"source": f"VADER ground truth (PyPI vaderSentiment 3.3.2), {FILES[domain]}",
                        "labels": f"mean rating > {NEUTRAL} positive, < -{NEUTRAL} negative; "
                                  f"{len(texts) - len(keep)} of {len(texts)} neutral texts dropped"
                                  + (f"; {sum(map(len, splits))} of the {len(keep)} kept (@{size})"
                                     if size is not None else "")})


build.check = check  # type: ignore[attr-defined]
DOMAINS.register("vader/*")(build)
