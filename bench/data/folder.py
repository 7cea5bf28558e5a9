"""``folder:<root>/<domain>``: any image tree ``<root>/<domain>/<class>/<image>``.

Classes are the sorted class-folder names of the domain (source and target must have the same
ones); a fixed seeded stratified 60/10/30 split. ``@<pixels>`` at the end picks the resolution,
e.g. ``folder:/data/mydata/winter@128``. Relative roots are relative to the working directory.
"""
from __future__ import annotations

from pathlib import Path

from bench.data.base import DataError
from bench.data.image_folders import ImageDataset, split_size_suffix

PREFIX = "folder:"


class Folder(ImageDataset):
    def _path(self, name: str) -> tuple[Path, int]:
        if not name.startswith(PREFIX) or len(name) <= len(PREFIX):
            raise DataError(f"{name!r}: a generic image folder domain is written "
                            f"'folder:<root>/<domain>' (optionally '@<pixels>' at the end)")
        path, size = split_size_suffix(name[len(PREFIX):])
        return Path(path).expanduser(), size

    def error(self, name: str, problem: str) -> DataError:
        return DataError(f"{name}: {problem}\n  expected <root>/<domain>/<class>/<image> (one folder "
                         f"per class, images .jpg .png ...), named as 'folder:<root>/<domain>'")

    def root(self, name: str) -> tuple[Path, str]:
        return self._path(name)[0].parent, "the domain name"

    def parse(self, name: str) -> tuple[str, int]:
        path, size = self._path(name)
        return path.name, size

    def folder(self, name: str, root: Path, domain: str) -> Path:
        if not (root / domain).is_dir():
            raise self.error(name, f"the domain folder {root / domain} does not exist")
        return root / domain

    def items(self, name: str, root: Path, domain: str, folder: Path, check_only: bool) -> dict:
        classes = sorted(d.name for d in folder.iterdir() if d.is_dir() and not d.name.startswith("."))
        items = self.scan(name, folder, check_only, classes)
        return {} if check_only else {**self.seeded(items), "classes": classes}


Folder(
    key="folder", title="an image folder tree", classes=[],
    url="your own data",
    layout="<domain>/<class>/<image>.jpg   (one folder per class; .jpg .png .bmp .webp ...)",
).register()
