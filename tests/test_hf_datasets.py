"""``hf:`` domains on datasets built here: folders written by ``datasets``' own ``save_to_disk`` and
Parquet files (written with pyarrow alone), read back offline; one dataset as two domains by a
column; a tiny suite over such a pair end to end; bad names and files exit 2 with one line.
Hub names need the network and are documented, not tested."""
from __future__ import annotations

import io
import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from bench.cli import main
from bench.data import DataError, check_domain, load_domain
from bench.results import read_results, result_files

CLASSES = ["circle", "square", "cross"]


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    from bench.cell.run_cell import cached_domain

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    cached_domain.cache_clear()
    yield
    cached_domain.cache_clear()


def picture(label: int, i: int, region: str) -> np.ndarray:
    """12x12 RGB: the class sets the colour (learnable), the region the brightness (a shift)."""
    rng = np.random.default_rng(100 * label + i)
    base = np.array([(label * 97) % 256, (label * 41) % 256, (label * 173) % 256]) * (0.6 if region == "b" else 1.0)
    return np.clip(base + rng.integers(-20, 20, (12, 12, 3)), 0, 255).astype(np.uint8)


def png(arr: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(arr).save(out, format="PNG")
    return out.getvalue()


def rows(n: int, offset: int = 0) -> dict[str, list]:
    """``n`` rows per (class, region): image arrays, ClassLabel indices and a region column."""
    keys = [(c, i, r) for r in ("a", "b") for c in range(len(CLASSES)) for i in range(offset, offset + n)]
    return {"image": [picture(c, i, r) for c, i, r in keys], "label": [c for c, _, _ in keys],
            "region": [r for _, _, r in keys]}


def saved_dataset(folder) -> None:
    """A DatasetDict (train 10 / test 4 per class and region) written by datasets' save_to_disk."""
    datasets = pytest.importorskip("datasets", reason="needs the datasets library (extra 'hub')")
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=CLASSES),
                                  "region": datasets.Value("string")})
    datasets.DatasetDict({"train": datasets.Dataset.from_dict(rows(10), features=features),
                          "test": datasets.Dataset.from_dict(rows(4, offset=50), features=features)}
                         ).save_to_disk(str(folder))


def test_a_saved_dataset_dict_reads_as_datasets_itself_reads_it(tmp_path):
    import datasets

    folder = tmp_path / "shapes"
    saved_dataset(folder)
    d = load_domain(f"hf:{folder}?domain=region=a")
    assert d.modality == "image" and d.classes == CLASSES and d.input_shape == (3, 12, 12)
    assert d.train.x.dtype == torch.uint8
    assert (len(d.train), len(d.val), len(d.test)) == (27, 3, 12)  # own test; val = 10% of train
    assert torch.bincount(d.val.y).tolist() == [1, 1, 1]  # stratified
    reference = datasets.load_from_disk(str(folder), keep_in_memory=True)["test"].filter(lambda r: r["region"] == "a")
    assert d.test.y.tolist() == reference["label"]
    assert torch.equal(d.test.x[5].permute(1, 2, 0), torch.from_numpy(np.array(reference[5]["image"])))
    again = load_domain(f"hf:{folder}?domain=region=a")
    assert torch.equal(again.train.x, d.train.x) and torch.equal(again.val.y, d.val.y)


def test_parquet_text_without_datasets_own_splits_and_a_single_file(tmp_path):
    folder = tmp_path / "reviews"
    (folder / "data").mkdir(parents=True)
    for split, n in (("train", 40), ("validation", 8), ("test", 12)):
        texts = [f"{split} review {i} was {'great' if i % 2 else 'awful'}" for i in range(n)]
        table = pa.table({"sentence": texts, "stars": ["pos" if i % 2 else "neg" for i in range(n)]})
        pq.write_table(table, folder / "data" / f"{split}-00000-of-00001.parquet")  # the Hub's layout
    d = load_domain(f"hf:{folder}?label=stars")
    assert d.modality == "text" and d.classes == ["neg", "pos"]
    assert (len(d.train), len(d.val), len(d.test)) == (40, 8, 12)  # its own validation split
    assert d.test.x[3] == "test review 3 was great" and d.test.y[3] == 1
    single = folder / "data" / "train-00000-of-00001.parquet"
    s = load_domain(f"hf:{single}?label=stars&text=sentence")
    assert (len(s.train), len(s.val), len(s.test)) == (24, 4, 12)  # seeded stratified 60/10/30
    assert sorted(s.train.x + s.val.x + s.test.x) == sorted(pq.read_table(single)["sentence"].to_pylist())


def test_parquet_images_as_bytes_and_integer_labels(tmp_path):
    data = rows(6)
    table = pa.table({"img": [{"bytes": png(a), "path": None} for a in data["image"]], "label": data["label"]})
    pq.write_table(table, tmp_path / "train.parquet")
    d = load_domain(f"hf:{tmp_path / 'train.parquet'}?image=img&size=8")
    assert d.classes == ["0", "1", "2"] and d.input_shape == (3, 8, 8)
    assert len(d.train) + len(d.val) + len(d.test) == 36


def test_two_domains_of_one_dataset_run_a_tiny_suite_end_to_end(tmp_path):
    folder = tmp_path / "shapes"
    saved_dataset(folder)
    suite = tmp_path / "hf.yaml"
    suite.write_text(f"""
name: hf
backbones: [{{name: small_cnn, kwargs: {{width: 8}}}}]
strategies: [source_only, full_finetune]
pairs: ["hf:{folder}?domain=region=a -> hf:{folder}?domain=region=b"]
label_budgets: [1]
seeds: [0]
source: {{steps: 3, batch_size: 8}}
adapt: {{steps: 2, batch_size: 8}}
threads: 1
device: cpu
""")
    results = tmp_path / "results"
    args = ["run", str(suite), "--results", str(results), "--no-progress", "--executor", "inline"]
    out = CliRunner().invoke(main, args)
    assert out.exit_code == 0, out.output
    frame = read_results(results)
    assert sorted(frame["status"]) == ["ok", "ok"] and frame["target_acc"].between(0, 100).all()
    assert set(frame["target_domain"]) == {f"hf:{folder}?domain=region=b"}


def one_line_error(args: list[str]) -> str:
    out = CliRunner().invoke(main, args)
    lines = [ln for ln in out.output.splitlines() if ln.strip()]
    assert out.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: "), out.output
    return lines[0]


def test_a_path_named_by_the_data_may_not_leave_the_dataset_folder(tmp_path):
    folder = tmp_path / "shapes"
    saved_dataset(folder)
    state = folder / "train" / "state.json"
    (tmp_path / "outside.arrow").write_bytes((folder / "train" / "data-00000-of-00001.arrow").read_bytes())
    meta = json.loads(state.read_text())
    meta["_data_files"] = [{"filename": "../../outside.arrow"}]
    state.write_text(json.dumps(meta))
    with pytest.raises(DataError, match="data file '../../outside.arrow' is not one plain"):
        check_domain(f"hf:{folder}")
    meta["_data_files"] = [{"filename": "data-00000-of-00001.arrow"}]
    state.write_text(json.dumps(meta))
    (folder / "dataset_dict.json").write_text(json.dumps({"splits": ["train", "/etc"]}))
    with pytest.raises(DataError, match="split '/etc' is not one plain"):
        check_domain(f"hf:{folder}")
    with pytest.raises(DataError, match="config '..' is not one plain"):
        check_domain(f"hf:{folder}?config=..")


@pytest.mark.parametrize("suffix,message", [
    ("?colour=red", "unknown option 'colour'"),
    ("?size=3", "size=3 is not a whole number of pixels"),
    ("?domain=region", "write domain=<column>=<value>"),
    ("?domain=region=z", "no row has region = 'z'"),
    ("?label=stars", "no label column stars"),
    ("/missing", "does not exist"),
])
def test_bad_names_exit_2_with_one_line_before_any_cell(tmp_path, suffix, message):
    folder = tmp_path / "shapes"
    table = pa.table({"text": ["a b", "c d", "e f"] * 10, "label": [0, 1, 2] * 10, "region": ["a"] * 30})
    folder.mkdir()
    pq.write_table(table, folder / "train.parquet")
    name = f"hf:{folder}{suffix}"
    suite = tmp_path / "bad.yaml"
    suite.write_text(f'name: bad\nbackbones: [small_cnn]\nstrategies: [source_only]\npairs: ["{name} -> {name}"]\n')
    line = one_line_error(["run", str(suite), "--results", str(tmp_path / "results"), "--no-progress"])
    assert message in line
    assert result_files(tmp_path / "results") == []
