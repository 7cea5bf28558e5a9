"""Text domains from files in the Hugging Face ``datasets`` export format, and from the Hub.

``textfile:<path>`` (or ``textfile/<relative path>``): a JSON-lines or CSV file, or a folder of
``train`` / ``validation`` (or ``val``) / ``test`` files, each row with a text column (``text``,
``content``, ``sentence`` or ``review``) and a ``label`` column: exactly what
``DatasetDict["train"].to_json("train.jsonl")`` or ``.to_csv(...)`` writes. A single file is split
60/10/30, stratified, seeded by the file name. String labels are the class names (sorted); integer
labels are named by ``classes.json`` (a list, in label order) beside the data if present, else "0",
"1", ... Two domains pair only if their class names match.

``hfds/<dataset>[@<config>]`` (online, needs ``pip install datasets``): e.g. ``hfds/amazon_polarity``
(product reviews) -> ``hfds/imdb`` or ``hfds/rotten_tomatoes`` (movie reviews). The first use
downloads, takes a seeded sample (2000 train, 300 val, 1000 test), and writes it as JSON lines under
the data cache; later uses read that file offline through ``textfile``.
"""
from __future__ import annotations

import io
import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.data.base import DOMAINS, DataError, Domain, Split, cache_dir
from bench.data.digits import stratified_splits

TEXT_COLUMNS = ("text", "content", "sentence", "review")
SPLIT_NAMES = {"train": ("train",), "val": ("validation", "val", "valid", "dev"), "test": ("test",)}
SYNONYMS = {"neg": "negative", "pos": "positive"}  # imdb's names -> the embedded pair's names
SAMPLE = {"train": 2000, "val": 300, "test": 1000}


def read_table(path: Path) -> tuple[list[str], list]:
    """(texts, labels) of one JSON-lines / JSON / CSV file, UTF-8, every row with a text and a label;
    anything else raises :class:`DataError` naming the file (and the line or row)."""
    if path.suffix not in (".jsonl", ".json", ".csv"):
        raise DataError(f"{path}: expected a .jsonl, .json or .csv file")
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise DataError(f"{path}: cannot be read ({e.strerror or e})") from None
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark is no part of the first column's name
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        raise DataError(f"{path}:{line}: byte {raw[e.start]:#04x} is not UTF-8 text; save the file as "
                        "UTF-8 (what datasets' to_json / to_csv write)") from None
    try:
        if path.suffix == ".csv":
            df = pd.read_csv(io.StringIO(text))
        else:
            df = pd.read_json(io.StringIO(text), lines=path.suffix == ".jsonl")
    except ValueError as e:  # pandas' JSON and CSV parser errors are ValueErrors
        raise DataError(f"{path}: not a readable {path.suffix[1:]} table ({' '.join(str(e).split())})") from None
    text_col = next((c for c in TEXT_COLUMNS if c in df.columns), None)
    label_col = next((c for c in ("label", "labels") if c in df.columns), None)
    if text_col is None or label_col is None:
        raise DataError(f"{path}: expected a text column ({', '.join(TEXT_COLUMNS)}) and a 'label' "
                        f"column; found {list(df.columns)}")
    for col, what in ((text_col, "text"), (label_col, "label")):
        missing = np.flatnonzero(df[col].isna().to_numpy())
        if len(missing):
            raise DataError(f"{path}: {len(missing)} rows have no {what} (the first is row {missing[0] + 1}); "
                            f"give every row a {what} or remove those rows")
    return df[text_col].astype(str).tolist(), [_label(path, i, v) for i, v in enumerate(df[label_col], 1)]


def _label(path: Path, row: int, value: object) -> str | int:
    """A class name (text) or a class index (a whole number >= 0), else :class:`DataError`."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, np.integer, float, np.floating, np.bool_)) and float(value).is_integer() \
            and value >= 0:
        return int(value)
    raise DataError(f"{path}: row {row} has label {value!r}; labels are class names or class "
                    "indices 0, 1, ...")


def _class_names(name: str, folder: Path, all_labels: list) -> tuple[list, dict]:
    """(class names, label -> index): sorted names for text labels; for indices the names of
    ``classes.json`` beside the data (a list in index order), else "0", "1", ..."""
    kinds = {type(v) for v in all_labels}
    if kinds == {str}:
        classes = sorted(set(all_labels))
        return classes, {c: i for i, c in enumerate(classes)}
    if kinds != {int}:
        text = next(v for v in all_labels if isinstance(v, str))
        number = next(v for v in all_labels if isinstance(v, int))
        raise DataError(f"domain {name!r}: labels mix class names ({text!r}) and class indices ({number}); "
                        "use one kind in every file")
    n = max(all_labels) + 1
    names_file = folder / "classes.json"
    if not names_file.exists():
        return [str(i) for i in range(n)], {i: i for i in range(n)}
    try:
        classes = json.loads(names_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise DataError(f"{names_file}: not a readable JSON list of class names ({e})") from None
    if not isinstance(classes, list) or not all(isinstance(c, str) for c in classes) or len(classes) < n:
        raise DataError(f"{names_file}: expected a list of at least {n} class names (labels go up to "
                        f"{n - 1}), in label order")
    return classes, {i: i for i in range(len(classes))}


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        for ext in (".jsonl", ".json", ".csv"):
            if (folder / f"{n}{ext}").exists():
                return folder / f"{n}{ext}"
    return None


def load_text_files(name: str, path: Path) -> Domain:
    if not path.exists():
        raise DataError(f"domain {name!r}: {path} does not exist (expected a .jsonl/.csv file "
                        "or a folder with train/validation/test files)")
    if path.is_dir():
        files = {k: _find(path, v) for k, v in SPLIT_NAMES.items()}
        if files["train"] is None or files["test"] is None:
            raise DataError(f"domain {name!r}: {path} needs train and test files "
                            "(.jsonl/.json/.csv); validation is optional")
        parts = {k: read_table(f) if f else ([], []) for k, f in files.items()}
        folder = path
    else:
        texts, labels = read_table(path)
        seed = zlib.crc32(path.name.encode())
        codes = np.unique([str(v) for v in labels], return_inverse=True)[1]
        idx = stratified_splits(codes, seed % 2**31)
        parts = {k: ([texts[i] for i in s], [labels[i] for i in s]) for k, s in zip(SPLIT_NAMES, idx)}
        folder = path.parent
    classes, index = _class_names(name, folder, [v for _, ls in parts.values() for v in ls])
    classes = [SYNONYMS.get(c, c) for c in classes]
    splits = {k: Split(t, torch.as_tensor([index[v] for v in ls], dtype=torch.long))
              for k, (t, ls) in parts.items()}
    return Domain(name=name, modality="text", classes=classes, train=splits["train"],
                  val=splits["val"], test=splits["test"], info={"source": str(path)})


def _path_of(name: str) -> Path:
    sep = ":" if name.startswith("textfile:") else "/"
    return Path(name.split(sep, 1)[1]).expanduser()


@DOMAINS.register("textfile/*")
def build_text_file_domain(name: str) -> Domain:
    return load_text_files(name, _path_of(name))


def _check_text_files(name: str) -> None:
    """Pre-flight (before the first cell): read and check every file; text files are small."""
    load_text_files(name, _path_of(name))


build_text_file_domain.check = _check_text_files  # type: ignore[attr-defined]


@DOMAINS.register("hfds/*")
def build_hub_domain(name: str) -> Domain:
    """Online path: sample a Hub dataset once into the cache, then read it as text files."""
    dataset, _, config = name.split("/", 1)[1].partition("@")
    folder = cache_dir("hfds", dataset.replace("/", "__") + (f"@{config}" if config else ""))
    if not (folder / "test.jsonl").exists():
        _download(dataset, config or None, folder)
    return load_text_files(name, folder)


def _download(dataset: str, config: str | None, folder: Path) -> None:
    try:
        import datasets
    except ImportError:
        raise ImportError("hfds/* domains need the datasets library: pip install datasets "
                          "(or export the data to JSON lines and use textfile:<path>)") from None
    ds = datasets.load_dataset(dataset, config)
    train = ds["train"].shuffle(seed=0)
    val_split = next((s for s in ("validation", "val") if s in ds), None)
    val = ds[val_split] if val_split else train.select(range(SAMPLE["train"], len(train)))
    samples = {"train": train.select(range(min(SAMPLE["train"], len(train)))),
               "validation": val.shuffle(seed=1).select(range(min(SAMPLE["val"], len(val)))),
               "test": ds["test"].shuffle(seed=2).select(range(min(SAMPLE["test"], len(ds["test"]))))}
    label = samples["train"].features.get("label")
    tmp = folder / ".partial"
    tmp.mkdir(exist_ok=True)
    if hasattr(label, "names"):
        (tmp / "classes.json").write_text(json.dumps(label.names))
    for split, part in samples.items():
        part.to_json(str(tmp / f"{split}.jsonl"))
    for f in tmp.iterdir():  # test.jsonl last: its presence marks a complete download
        if f.name != "test.jsonl":
            f.replace(folder / f.name)
    (tmp / "test.jsonl").replace(folder / "test.jsonl")
    tmp.rmdir()
