"""``pacs/<art_painting|cartoon|photo|sketch>``: PACS (Li et al. 2017), 7 classes, 4 styles.

Layout: ``<root>/<domain>/<class>/*.jpg`` (DomainBed's tree). The published split is honoured:
``<root>/<domain>_train_kfold.txt`` + ``<domain>_crossval_kfold.txt`` (official, labels 1..7,
paths relative to the root) or TLL's ``<root>/image_list/<domain>_train.txt`` + ``_val.txt``
(also 1-based); the train list gives train (and a seeded 10% val), the crossval list is the test
split, disjoint from train. Without lists: fixed seeded stratified 60/10/30.
"""
from __future__ import annotations

from pathlib import Path

from bench.data.image_folders import ImageDataset

CLASSES = ["dog", "elephant", "giraffe", "guitar", "horse", "house", "person"]


class PACS(ImageDataset):
    def items(self, name: str, root: Path, domain: str, folder: Path, check_only: bool) -> dict:
        lists = [(root / f"{domain}_train_kfold.txt", root / f"{domain}_crossval_kfold.txt"),
                 (root / "image_list" / f"{domain}_train.txt", root / "image_list" / f"{domain}_val.txt")]
        return self.official_or_scan(name, root, folder, lists, check_only, label_offset=1)


PACS(
    key="pacs", title="PACS", classes=CLASSES,
    url="https://domaingeneralization.github.io/#data (or DomainBed's download script)",
    layout="<domain>/<class>/*.jpg   for art_painting, cartoon, photo, sketch\n"
           "<domain>_train_kfold.txt, <domain>_crossval_kfold.txt   (optional: official split)",
    domains={d: [d] for d in ("art_painting", "cartoon", "photo", "sketch")},
).register()
