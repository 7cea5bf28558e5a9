"""``hf:<dataset>[?<option>=<value>&...]``: a Hugging Face dataset (saved folder, Parquet, Hub) as a domain.

``<dataset>`` is a local path (absolute, or relative to the working directory) when it exists or
starts with ``.``, ``/`` or ``~``, else a Hub name (``ylecun/mnist``; online, needs the ``datasets``
library: ``pip install 'transfer-bench[hub]'``; the first use saves it under the data cache, later
uses read that copy offline). Local data is read with pyarrow alone, no ``datasets`` needed:

* a folder written by ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (Arrow files);
* Parquet: one ``.parquet`` file, or a folder of ``<split>.parquet``, ``<split>-*.parquet``,
  ``data/<split>-*.parquet`` (the Hub's layout) or ``<split>/*.parquet`` files.

Options, joined by ``&`` (a ``,`` or ``+`` would split a pair's sources): ``image=<column>`` or
``text=<column>`` (default: the first of image, img, picture / text, content, sentence, review),
``label=<column>`` (default label, labels), ``config=<name>`` (a Hub configuration; locally a
sub-folder), ``domain=<column>=<value>`` (only the rows whose column has that value: one dataset
as several domains) and ``size=<pixels>`` (resize images; needed when their sizes differ).

Splits: the dataset's own train / test, with its validation split as val, else a stratified seeded
10% of train; a dataset without a test split is split stratified 60/10/30 (seeded by a constant,
so every machine sees the same rows). Classes: a ``ClassLabel``'s names, else the sorted string
labels, else "0", "1", ... up to the largest index, taken over the whole dataset before ``domain=``
filters it, so every domain of one dataset has the same classes and the domains pair.
"""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch

from bench.data.base import DOMAINS, DataError, Domain, Split, cache_dir
from bench.data.digits import SPLIT_SEED, stratified_splits
from bench.data.text_files import SPLIT_NAMES, TEXT_COLUMNS

IMAGE_COLUMNS = ("image", "img", "picture")
LABEL_COLUMNS = ("label", "labels")
OPTIONS = ("image", "text", "label", "config", "domain", "size")
VAL_FRACTION = 0.1
#: a Hub repository id: ``name`` or ``owner/name``, letters, digits, ``-``, ``_``, ``.``
HUB_NAME = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")
USAGE = "write 'hf:<path or Hub name>[?<option>=<value>&...]' with options " + ", ".join(OPTIONS)


# --- the name ----------------------------------------------------------------------------------

def parse(name: str) -> tuple[str, dict[str, str]]:
    """``hf:<dataset>?a=b&c=d`` -> (dataset, {a: b, c: d}), each option checked."""
    dataset, _, query = name[3:].partition("?")
    if not dataset:
        raise DataError(f"{name!r}: no dataset named; {USAGE}")
    options: dict[str, str] = {}
    for part in query.split("&") if query else []:
        key, eq, value = part.partition("=")
        if key not in OPTIONS:
            raise DataError(f"{name!r}: unknown option {key!r}; {USAGE}")
        if not eq or not value or key in options:
            raise DataError(f"{name!r}: option {key!r} needs one value, given once ({key}=<value>)")
        options[key] = value
    if "image" in options and "text" in options:
        raise DataError(f"{name!r}: give image= or text=, not both")
    if "domain" in options and "=" not in options["domain"].strip("="):
        raise DataError(f"{name!r}: write domain=<column>=<value>")
    if "size" in options and not (options["size"].isdigit() and 8 <= int(options["size"]) <= 1024):
        raise DataError(f"{name!r}: size={options['size']} is not a whole number of pixels in 8..1024")
    if "config" in options:
        plain_component(name, options["config"], "config")
    return dataset, options


def plain_component(name: str, part: str, what: str) -> str:
    """A name the data uses as one folder or file below the dataset's own folder, never a way out
    of it (an absolute path, ``..``, a separator)."""
    if not part or part in (".", "..") or "/" in part or "\\" in part or Path(part).is_absolute() \
            or any(ord(ch) < 32 for ch in part):
        raise DataError(f"{name}: {what} {part!r} is not one plain folder or file name; it must "
                        "name something inside the dataset's folder")
    return part


def locate(name: str, dataset: str, options: dict[str, str]) -> Path:
    """The local file or folder to read: the path itself, or the cached copy of a Hub dataset."""
    path = Path(dataset).expanduser()
    if path.exists():
        root = path
    elif dataset.startswith((".", "/", "~")) or ".." in dataset or not HUB_NAME.fullmatch(dataset):
        raise DataError(f"{name}: {path} does not exist (a saved dataset folder or Parquet files); {USAGE}")
    else:
        return hub_copy(name, dataset, options.get("config"))
    if "config" in options:
        root = root / options["config"]
        if not root.exists():
            raise DataError(f"{name}: config folder {root} does not exist")
    return root


def hub_copy(name: str, dataset: str, config: str | None) -> Path:
    """Online, once: ``datasets.load_dataset`` saved into the data cache; later uses read the copy."""
    folder = cache_dir("hf") / (dataset.replace("/", "__") + (f"@{config}" if config else ""))
    if (folder / "dataset_dict.json").is_file():
        return folder
    try:
        import datasets
    except ImportError:
        raise DataError(f"{name}: {dataset!r} is no local path, and a Hub dataset needs the datasets "
                        "library: pip install 'transfer-bench[hub]'") from None
    try:
        loaded = datasets.load_dataset(dataset, config)
    except Exception as e:  # the Hub's errors (offline, no such dataset, gated) are many types
        raise DataError(f"{name}: the Hub dataset {dataset!r} cannot be loaded "
                        f"({' '.join(str(e).split())[:300]})") from None
    tmp = folder.with_name(folder.name + ".partial")
    loaded.save_to_disk(str(tmp))
    tmp.replace(folder)
    return folder


# --- reading tables ----------------------------------------------------------------------------

def read_splits(name: str, root: Path) -> tuple[dict[str, pa.Table], dict[str, Any]]:
    """({split name: table}, features as ``datasets`` describes them, or {})."""
    if root.is_file():
        if root.suffix != ".parquet":
            raise DataError(f"{name}: {root} is no .parquet file nor a dataset folder")
        return {"all": read_parquet(name, [root])}, parquet_features(root)
    if (root / "dataset_dict.json").is_file():
        splits = read_json(name, root / "dataset_dict.json").get("splits") or []
        if not splits:
            raise DataError(f"{name}: {root / 'dataset_dict.json'} lists no splits")
        tables = {s: read_arrow_folder(name, root / plain_component(name, s, "split")) for s in splits}
        return tables, arrow_features(name, root / splits[0])
    if (root / "state.json").is_file():
        return {"all": read_arrow_folder(name, root)}, arrow_features(name, root)
    found = {split: parquet_files(root, split) for split in (*SPLIT_NAMES["val"], "train", "test")}
    found = {split: files for split, files in found.items() if files}
    if not found:
        raise DataError(f"{name}: {root} holds no saved dataset (dataset_dict.json or state.json) "
                        "and no Parquet files (<split>.parquet, data/<split>-*.parquet, <split>/*.parquet)")
    return ({split: read_parquet(name, files) for split, files in found.items()},
            parquet_features(next(iter(found.values()))[0]))


def parquet_files(root: Path, split: str) -> list[Path]:
    for pattern in (f"{split}.parquet", f"{split}-*.parquet", f"data/{split}-*.parquet", f"{split}/*.parquet"):
        files = sorted(p for p in root.glob(pattern) if p.is_file())
        if files:
            return files
    return []


def read_json(name: str, path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{name}: {path} is not a readable JSON file ({e})") from None
    if not isinstance(data, dict):
        raise DataError(f"{name}: {path} is not a JSON object")
    return data


def read_parquet(name: str, files: list[Path]) -> pa.Table:
    try:
        return pa.concat_tables([pq.read_table(f) for f in files], promote_options="default")
    except (OSError, pa.ArrowException) as e:
        raise DataError(f"{name}: {files[0].parent} has an unreadable Parquet file ({e})") from None


def read_arrow_folder(name: str, folder: Path) -> pa.Table:
    """One split as ``save_to_disk`` wrote it: ``state.json`` lists its Arrow stream files."""
    files = [f.get("filename", "") for f in read_json(name, folder / "state.json").get("_data_files", [])]
    if not files:
        raise DataError(f"{name}: {folder / 'state.json'} lists no data files")
    tables = []
    for file in files:
        path = folder / plain_component(name, file, "data file")
        try:
            with pa.memory_map(str(path)) as source:
                tables.append(pa.ipc.open_stream(source).read_all())
        except (OSError, pa.ArrowException) as e:
            raise DataError(f"{name}: {path} is not a readable Arrow file ({e})") from None
    return pa.concat_tables(tables)


def arrow_features(name: str, folder: Path) -> dict[str, Any]:
    info = folder / "dataset_info.json"
    return read_json(name, info).get("features") or {} if info.is_file() else {}


def parquet_features(path: Path) -> dict[str, Any]:
    """The features ``datasets`` writes into a Parquet file's schema metadata, if it did."""
    meta = pq.read_schema(path).metadata or {}
    try:
        return json.loads(meta[b"huggingface"]).get("info", {}).get("features") or {}
    except (KeyError, ValueError, AttributeError):
        return {}


# --- columns, classes, splits ------------------------------------------------------------------

def columns(name: str, tables: dict[str, pa.Table], features: dict, options: dict) -> tuple[str, str, str]:
    """(modality, input column, label column), each present in every split."""
    names = set.intersection(*(set(t.column_names) for t in tables.values()))
    images = [c for c, f in features.items() if isinstance(f, dict) and f.get("_type") == "Image"]
    if "image" in options or "text" in options:
        modality = "image" if "image" in options else "text"
        column = options[modality]
    else:
        column = next((c for c in (*IMAGE_COLUMNS, *images) if c in names), None)
        modality = "image" if column else "text"
        column = column or next((c for c in TEXT_COLUMNS if c in names), None)
    label = options.get("label") or next((c for c in LABEL_COLUMNS if c in names), None)
    for what, col in ((f"{modality} column", column), ("label column", label)):
        if col is None or col not in names:
            raise DataError(f"{name}: no {what} {col or ''} in every split; the columns are "
                            f"{sorted(names)} (name them with image=, text=, label=)")
    return modality, column, label


def class_names(name: str, tables: dict[str, pa.Table], label: str, features: dict) -> list[str]:
    """The ClassLabel's names, else sorted string labels, else "0".."<max>", over every row."""
    feature = features.get(label)
    if isinstance(feature, dict) and feature.get("names"):
        return [str(n) for n in feature["names"]]
    values = [v for t in tables.values() for v in t.column(label).to_pylist()]
    kinds = {type(v) for v in values}
    if kinds == {str}:
        return sorted(set(values))
    if kinds <= {int, bool} and values:
        return [str(i) for i in range(int(max(values)) + 1)]
    raise DataError(f"{name}: labels in column {label!r} are {sorted(k.__name__ for k in kinds)}; "
                    "expected class indices 0, 1, ... or class names, in every row")


def label_codes(name: str, table: pa.Table, label: str, classes: list[str]) -> np.ndarray:
    index = {c: i for i, c in enumerate(classes)}
    codes = []
    for row, v in enumerate(table.column(label).to_pylist(), 1):
        code = index.get(v) if isinstance(v, str) else v if isinstance(v, int) and 0 <= v < len(classes) else None
        if code is None:
            raise DataError(f"{name}: row {row} has label {v!r}, not one of the {len(classes)} classes "
                            "(an unlabelled split, such as -1 labels, cannot be a domain's split)")
        codes.append(code)
    return np.asarray(codes, dtype=np.int64)


def keep_domain(name: str, tables: dict[str, pa.Table], rule: str | None) -> dict[str, pa.Table]:
    """Only the rows of ``column=value``; the value must occur."""
    if rule is None:
        return tables
    column, _, value = rule.partition("=")
    if any(column not in t.column_names for t in tables.values()):
        raise DataError(f"{name}: no column {column!r} for domain=; the columns are "
                        f"{next(iter(tables.values())).column_names}")
    kept = {s: t.filter(pa.array([str(v) == value for v in t.column(column).to_pylist()])) for s, t in tables.items()}
    kept = {s: t for s, t in kept.items() if len(t)}  # a split without the domain's rows is no split of it
    if not kept:
        seen = sorted({str(v) for t in tables.values() for v in t.column(column).to_pylist()})
        raise DataError(f"{name}: no row has {column} = {value!r}; its values are {seen[:10]}")
    return kept


def split_rows(name: str, tables: dict[str, pa.Table], codes: dict[str, np.ndarray]) -> dict:
    """{train, val, test: (table, codes)} from the dataset's splits (see the module's docstring)."""
    pick = {k: next((s for s in names if s in tables), None) for k, names in SPLIT_NAMES.items()}
    if pick["train"] and pick["test"]:
        out = {"train": (tables[pick["train"]], codes[pick["train"]]),
               "test": (tables[pick["test"]], codes[pick["test"]])}
        if pick["val"]:
            return {**out, "val": (tables[pick["val"]], codes[pick["val"]])}
        tr, va, rest = stratified_splits(out["train"][1], SPLIT_SEED, (1 - VAL_FRACTION, VAL_FRACTION, 0.0))
        parts = {"train": np.sort(np.concatenate([tr, rest])), "val": va}
    else:
        every = pa.concat_tables(list(tables.values()), promote_options="default")
        out = {"all": (every, np.concatenate(list(codes.values())))}
        parts = dict(zip(("train", "val", "test"), stratified_splits(out["all"][1], SPLIT_SEED)))
    source = out.get("train", out.get("all"))
    carved = {k: (source[0].take(pa.array(idx, type=pa.int64())), source[1][idx]) for k, idx in parts.items()}
    split = {**{k: v for k, v in out.items() if k != "all"}, **carved}
    empty = [k for k in ("train", "val", "test") if not len(split[k][1])]
    if empty:
        raise DataError(f"{name}: the {' and '.join(empty)} split would be empty ({sum(map(len, codes.values()))} "
                        "rows); a domain needs a few rows per class in each of train, val and test")
    return split


# --- inputs ------------------------------------------------------------------------------------

def images(name: str, values: list, size: int | None) -> torch.Tensor:
    """uint8 ``[N, C, H, W]`` (C = 1 when every image is greyscale, else 3) from image cells:
    ``{"bytes": ..., "path": ...}`` (the Image feature; bytes embedded) or nested number lists."""
    from PIL import Image

    pictures = []
    for row, v in enumerate(values, 1):
        try:
            if isinstance(v, dict) and v.get("bytes"):
                pictures.append(Image.open(io.BytesIO(v["bytes"])))
            elif isinstance(v, list):
                pictures.append(Image.fromarray(np.asarray(v, dtype=np.uint8)))
            else:
                raise ValueError("no embedded image bytes (save the dataset with the images embedded, "
                                 "as save_to_disk and to_parquet do)")
            pictures[-1].load()
        except (OSError, ValueError, TypeError) as e:
            raise DataError(f"{name}: cannot decode the image of row {row} ({e})") from None
    mode = "L" if all(p.mode in ("L", "1", "I;16") for p in pictures) else "RGB"
    shapes = {p.size for p in pictures}
    if size is None and len(shapes) > 1:
        raise DataError(f"{name}: images have {len(shapes)} different sizes; add ?size=<pixels>")
    arrays = [np.asarray((p.convert(mode) if size is None else p.convert(mode).resize((size, size))))
              for p in pictures]
    x = torch.from_numpy(np.stack(arrays))
    return (x.unsqueeze(1) if mode == "L" else x.permute(0, 3, 1, 2)).contiguous()


def build(name: str, check_only: bool = False) -> Domain | None:
    dataset, options = parse(name)
    root = locate(name, dataset, options)
    tables, features = read_splits(name, root)
    modality, column, label = columns(name, tables, features, options)
    classes = class_names(name, tables, label, features)
    tables = keep_domain(name, tables, options.get("domain"))
    codes = {s: label_codes(name, t, label, classes) for s, t in tables.items()}
    parts = split_rows(name, tables, codes)
    if check_only:
        return None
    size = int(options["size"]) if "size" in options else None
    splits = {}
    for key, (table, y) in parts.items():
        values = table.column(column).to_pylist()
        x = images(name, values, size) if modality == "image" else [str(v) for v in values]
        splits[key] = Split(x, torch.as_tensor(y, dtype=torch.long))
    info = {"source": str(root), "sizes": [len(splits[k]) for k in ("train", "val", "test")]}
    if modality == "image":
        info["image_size"] = list(splits["train"].x.shape[1:])
    return Domain(name=name, modality=modality, classes=classes, train=splits["train"],
                  val=splits["val"], test=splits["test"], info=info)


@DOMAINS.register("hf/*")
def build_hf_domain(name: str) -> Domain:
    if not name.startswith("hf:"):
        raise DataError(f"{name!r}: a Hugging Face dataset domain starts with 'hf:'; {USAGE}")
    return build(name)


def _check(name: str) -> None:
    """Pre-flight: the name, the files, the columns, the labels and the splits; no image decoded."""
    if not name.startswith("hf:"):
        raise DataError(f"{name!r}: a Hugging Face dataset domain starts with 'hf:'; {USAGE}")
    build(name, check_only=True)


build_hf_domain.check = _check  # type: ignore[attr-defined]
