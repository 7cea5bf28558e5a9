"""``officehome/<Art|Clipart|Product|Real_World>``: Office-Home (Venkateswara et al. 2017), 65 classes.

Layout: ``<root>/<Domain>/<Class>/*.jpg``; the real-world folder may be ``Real_World`` or
``Real World`` (the original archive's name). ``<root>/image_list/<Domain>.txt`` (TLL) is honoured
when present; its labels follow TLL's class order, kept here. No official split: fixed seeded
stratified 60/10/30.
"""
from __future__ import annotations

from pathlib import Path

from bench.data.image_folders import ImageDataset

#: The Transfer-Learning-Library's order (its image lists' labels index into it).
CLASSES = ["Drill", "Exit_Sign", "Bottle", "Glasses", "Computer", "File_Cabinet", "Shelf", "Toys",
           "Sink", "Laptop", "Kettle", "Folder", "Keyboard", "Flipflops", "Pencil", "Bed", "Hammer",
           "ToothBrush", "Couch", "Bike", "Postit_Notes", "Mug", "Webcam", "Desk_Lamp", "Telephone",
           "Helmet", "Mouse", "Pen", "Monitor", "Mop", "Sneakers", "Notebook", "Backpack",
           "Alarm_Clock", "Push_Pin", "Paper_Clip", "Batteries", "Radio", "Fan", "Ruler", "Pan",
           "Screwdriver", "Trash_Can", "Printer", "Speaker", "Eraser", "Bucket", "Chair", "Calendar",
           "Calculator", "Flowers", "Lamp_Shade", "Spoon", "Candles", "Clipboards", "Scissors", "TV",
           "Curtains", "Fork", "Soda", "Table", "Knives", "Oven", "Refrigerator", "Marker"]


class OfficeHome(ImageDataset):
    def items(self, name: str, root: Path, domain: str, folder: Path, check_only: bool) -> dict:
        return self.list_or_scan(name, root, folder, root / "image_list" / f"{domain}.txt", check_only)


OfficeHome(
    key="officehome", title="Office-Home", classes=CLASSES,
    url="https://www.hemanthdv.org/officeHomeDataset.html",
    layout="Art/<Class>/*.jpg\nClipart/<Class>/*.jpg\nProduct/<Class>/*.jpg\n"
           "Real_World/<Class>/*.jpg   (or 'Real World')\nimage_list/<Domain>.txt   (optional)",
    domains={"Art": ["Art"], "Clipart": ["Clipart"], "Product": ["Product"],
             "Real_World": ["Real_World", "Real World"]},
).register()
