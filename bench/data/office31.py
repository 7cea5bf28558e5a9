"""``office31/<amazon|dslr|webcam>``: Office-31 (Saenko et al. 2010), 31 office object classes.

Layout: ``<root>/<domain>/images/<class>/*.jpg``; the Transfer-Learning-Library's
``<root>/image_list/<domain>.txt`` (``amazon/images/back_pack/frame_0001.jpg 0``) is honoured when
present. Office-31 has no official split: a fixed seeded stratified 60/10/30 split is used.
"""
from __future__ import annotations

from pathlib import Path

from bench.data.image_folders import ImageDataset

CLASSES = ["back_pack", "bike", "bike_helmet", "bookcase", "bottle", "calculator", "desk_chair",
           "desk_lamp", "desktop_computer", "file_cabinet", "headphones", "keyboard",
           "laptop_computer", "letter_tray", "mobile_phone", "monitor", "mouse", "mug",
           "paper_notebook", "pen", "phone", "printer", "projector", "punchers", "ring_binder",
           "ruler", "scissors", "speaker", "stapler", "tape_dispenser", "trash_can"]


class Office31(ImageDataset):
    def items(self, name: str, root: Path, domain: str, folder: Path, check_only: bool) -> dict:
        return self.list_or_scan(name, root, folder / "images", root / "image_list" / f"{domain}.txt",
                                 check_only)


Office31(
    key="office31", title="Office-31", classes=CLASSES,
    url="https://faculty.cc.gatech.edu/~judy/domainadapt/ (or the Transfer-Learning-Library's "
        "mirror, tllib.vision.datasets.Office31)",
    layout="amazon/images/<class>/*.jpg\ndslr/images/<class>/*.jpg\nwebcam/images/<class>/*.jpg\n"
           "image_list/<domain>.txt   (optional: published image lists)",
    domains={"amazon": ["amazon"], "dslr": ["dslr"], "webcam": ["webcam"]},
).register()
