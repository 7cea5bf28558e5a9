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

import json
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from bench.data.base import DOMAINS, Domain, Split, cache_dir
from bench.data.digits import stratified_splits

TEXT_COLUMNS = ("text", "content", "sentence", "review")
SPLIT_NAMES = {"train": ("train",), "val": ("validation", "val", "valid", "dev"), "test": ("test",)}
SYNONYMS = {"neg": "negative", "pos": "positive"}  # imdb's names -> the embedded pair's names
SAMPLE = {"train": 2000, "val": 300, "test": 1000}


def read_table(path: Path) -> tuple[list[str], list]:
    """(texts, labels) of one JSON-lines / JSON / CSV file."""
    if path.suffix in (".jsonl", ".json"):
        df = pd.read_json(path, lines=path.suffix == ".jsonl")
    elif path.suffix == ".csv":
        df = pd.read_csv(path)
    else:
        raise ValueError(f"{path}: expected a .jsonl, .json or .csv file")
    text_col = next((c for c in TEXT_COLUMNS if c in df.columns), None)
    label_col = next((c for c in ("label", "labels") if c in df.columns), None)
    if text_col is None or label_col is None:
        raise ValueError(f"{path}: expected a text column ({', '.join(TEXT_COLUMNS)}) and a 'label' "
                         f"column; found {list(df.columns)}")
    return df[text_col].astype(str).tolist(), df[label_col].tolist()


def _find(folder: Path, names: tuple[str, ...]) -> Path | None:
    for n in names:
        for ext in (".jsonl", ".json", ".csv"):
            if (folder / f"{n}{ext}").exists():
                return folder / f"{n}{ext}"
    return None


def load_text_files(name: str, path: Path) -> Domain:
    if not path.exists():
        raise FileNotFoundError(f"domain {name!r}: {path} does not exist (expected a .jsonl/.csv file "
                                "or a folder with train/validation/test files)")
    if path.is_dir():
        files = {k: _find(path, v) for k, v in SPLIT_NAMES.items()}
        if files["train"] is None or files["test"] is None:
            raise FileNotFoundError(f"domain {name!r}: {path} needs train and test files "
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
    all_labels = [v for _, ls in parts.values() for v in ls]
    if all(isinstance(v, str) for v in all_labels):
        classes = sorted(set(all_labels))
        index = {c: i for i, c in enumerate(classes)}
    else:
        n = int(max(all_labels)) + 1
        names_file = folder / "classes.json"
        classes = json.loads(names_file.read_text()) if names_file.exists() else [str(i) for i in range(n)]
        index = {i: i for i in range(n)}
    classes = [SYNONYMS.get(c, c) for c in classes]
    splits = {k: Split(t, torch.as_tensor([index[v] for v in ls], dtype=torch.long))
              for k, (t, ls) in parts.items()}
    return Domain(name=name, modality="text", classes=classes, train=splits["train"],
                  val=splits["val"], test=splits["test"], info={"source": str(path)})


@DOMAINS.register("textfile/*")
def build_text_file_domain(name: str) -> Domain:
    sep = ":" if name.startswith("textfile:") else "/"
    return load_text_files(name, Path(name.split(sep, 1)[1]).expanduser())


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
