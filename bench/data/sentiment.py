"""``sentiment/products`` -> ``sentiment/movies``: an embedded text shift, small enough for tests.

Short hand-written review sentences, product reviews vs movie reviews, labelled ``negative`` /
``positive``. Each domain has its own vocabulary of subjects and of what is praised or blamed
(battery life, breaking, arriving damaged vs plot, acting, pacing) and shares only some generic
sentiment words, so a model trained on one domain transfers to the other only in part: a real,
if small, domain shift. The sentences are the combinations of the fragments below, sampled with a
fixed seed: the same 600 examples per domain on every machine, split stratified 60/10/30.
``sentiment/products@40`` takes 40 per class instead of 300 (small, fast variants for tests).
"""
from __future__ import annotations

import itertools

import numpy as np
import torch

from bench.data.base import DOMAINS, Domain, Split
from bench.data.digits import stratified_splits

CLASSES = ["negative", "positive"]
PER_CLASS = 300
SPLIT_SEED = 20240612

FRAGMENTS = {
    "products": {
        "subjects": ["this blender", "the charger", "these headphones", "the phone case", "this vacuum",
                     "the keyboard", "this kettle", "the backpack", "these running shoes",
                     "the desk lamp", "this toaster", "the power bank"],
        "negative": ["broke after two days", "stopped working within a week", "feels cheap and flimsy",
                     "is a waste of money", "arrived damaged and scratched", "never charged properly",
                     "is noisy and overheats", "fell apart after one use", "is poorly made",
                     "had to be returned"],
        "positive": ["works perfectly", "arrived quickly and works great", "is sturdy and well made",
                     "is worth every penny", "exceeded my expectations", "has excellent battery life",
                     "was easy to set up", "still works like new after months", "is great value",
                     "is solid and reliable"],
        "openers": ["", "Honestly, ", "Overall, ", "After a month, ", "For the price, "],
        "endings": {"negative": ["", " Avoid it.", " I want a refund.", " Do not buy."],
                    "positive": ["", " I would buy it again.", " Highly recommended.", " Five stars."]},
    },
    "movies": {
        "subjects": ["the film", "this movie", "the sequel", "the documentary", "the plot",
                     "the lead actor", "the soundtrack", "the screenplay", "this thriller",
                     "the animated feature", "the director's new film", "the ending"],
        "negative": ["is dull and far too long", "has a predictable, lazy plot", "wastes a talented cast",
                     "is a boring mess", "falls flat in every scene", "drags on without a point",
                     "is badly acted", "left the audience yawning", "is a forgettable disappointment",
                     "makes no sense at all"],
        "positive": ["is a masterpiece", "kept me gripped until the end", "is moving and beautifully shot",
                     "delivers a brilliant performance", "is funny and heartfelt",
                     "deserves every award", "is a joy to watch", "left the whole cinema cheering",
                     "is smart, tense and great fun", "is wonderful from start to finish"],
        "openers": ["", "Honestly, ", "Overall, ", "In my opinion, ", "Without spoilers, "],
        "endings": {"negative": ["", " Skip it.", " What a letdown.", " Two hours I will not get back."],
                    "positive": ["", " See it twice.", " Highly recommended.", " Five stars."]},
    },
}


def sentences(kind: str, label: str) -> list[str]:
    """Every sentence the fragments of ``kind`` make for ``label`` (in a fixed order)."""
    f = FRAGMENTS[kind]
    out = []
    for opener, subject, predicate, ending in itertools.product(
            f["openers"], f["subjects"], f[label], f["endings"][label]):
        text = f"{opener}{subject} {predicate}.{ending}"
        out.append(text[0].upper() + text[1:])
    return out


@DOMAINS.register("sentiment/*")
def build_pair_domain(name: str) -> Domain:
    kind, _, size = name.split("/", 1)[1].partition("@")
    if kind not in FRAGMENTS or (size and not size.isdigit()):
        raise ValueError(f"unknown sentiment domain {name!r}: expected sentiment/<kind>[@<per class>] "
                         f"with kind one of {sorted(FRAGMENTS)}")
    per_class = int(size) if size else PER_CLASS
    rng = np.random.default_rng(SPLIT_SEED + len(kind))
    texts, labels = [], []
    for label_id, label in enumerate(CLASSES):
        pool = sentences(kind, label)
        texts += [pool[i] for i in rng.choice(len(pool), per_class, replace=False)]
        labels += [label_id] * per_class
    y = np.asarray(labels)
    order = rng.permutation(len(y))  # interleave the classes
    texts, y = [texts[i] for i in order], y[order]
    yt = torch.as_tensor(y, dtype=torch.long)
    splits = [torch.as_tensor(s, dtype=torch.long) for s in stratified_splits(y, SPLIT_SEED)]
    tr, va, te = (Split([texts[i] for i in s.tolist()], yt[s]) for s in splits)
    return Domain(name=name, modality="text", classes=list(CLASSES), train=tr, val=va, test=te,
                  info={"source": "embedded templated review sentences (bench/data/sentiment.py)"})
