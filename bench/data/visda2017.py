"""``visda2017/<train|validation>``: VisDA-2017 classification, synthetic renders -> real photos.

``train`` is the synthetic source (152k renders), ``validation`` the real target (55k crops);
12 classes. Layout: ``<root>/<train|validation>/<class>/*``; the challenge's own
``<root>/<split>/image_list.txt`` (paths relative to that folder) or TLL's
``<root>/image_list/<split>.txt`` (paths relative to the root) are honoured when present. Each
domain gets a fixed seeded stratified 60/10/30 split (the target's labels only within budget).
"""
from __future__ import annotations

from pathlib import Path

from bench.data.image_folders import ImageDataset

CLASSES = ["aeroplane", "bicycle", "bus", "car", "horse", "knife", "motorcycle", "person", "plant",
           "skateboard", "train", "truck"]


class VisDA2017(ImageDataset):
    def items(self, name: str, root: Path, domain: str, folder: Path, check_only: bool) -> dict:
        own = folder / "image_list.txt"
        list_file = own if own.is_file() else root / "image_list" / f"{domain}.txt"
        return self.list_or_scan(name, root, folder, list_file, check_only)


VisDA2017(
    key="visda2017", title="VisDA-2017 (classification)", classes=CLASSES,
    url="https://github.com/VisionLearningGroup/taskcv-2017-public/tree/master/classification",
    layout="train/<class>/*.png        (synthetic)\nvalidation/<class>/*.jpg   (real)\n"
           "train/image_list.txt, validation/image_list.txt   (optional)",
    domains={"train": ["train"], "validation": ["validation"]},
).register()
