"""Image-folder datasets on generated fixture trees in each dataset's exact layout (real class
names, tiny real JPEGs written with Pillow), the decode-once cache, augmentation and pre-flight."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bench.data import DataError, check_domain, load_domain
from bench.data import image_cache
from bench.data.domainnet import CLASSES as DOMAINNET
from bench.data.office31 import CLASSES as OFFICE31
from bench.data.officehome import CLASSES as OFFICEHOME
from bench.data.pacs import CLASSES as PACS
from bench.data.visda2017 import CLASSES as VISDA

SIZE = 16


def write_image(path: Path, label: int, i: int, ext: str = ".jpg") -> None:
    """A small image whose colour depends on the class (learnable) and index (distinct)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1000 * label + i)
    base = np.array([(label * 37) % 256, (label * 91) % 256, (label * 53) % 256], dtype=np.int64)
    arr = np.clip(base + rng.integers(-30, 30, size=(12 + i % 3, 14, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(arr).save(path.with_suffix(ext))


def class_tree(folder: Path, classes: list[str], n: int, ext: str = ".jpg") -> list[tuple[str, int]]:
    """``folder/<class>/<i>.jpg``; returns (path relative to folder's parent, label) pairs."""
    out = []
    for label, c in enumerate(classes):
        for i in range(n):
            p = folder / c / f"img_{i:03d}{ext}"
            write_image(p, label, i, ext)
            out.append((f"{folder.name}/{c}/{p.name}", label))
    return out


def write_list(path: Path, rows: list[tuple[str, int]], offset: int = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{rel} {label + offset}\n" for rel, label in rows))


@pytest.fixture(autouse=True)
def isolated(tmp_path, monkeypatch):
    """A private cache and data root per test; the per-process domain memo is cleared."""
    from bench.cell.run_cell import cached_domain

    monkeypatch.setenv("BENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "data"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for var in [v for v in os.environ if v.startswith("BENCH_DATA_")]:
        monkeypatch.delenv(var)
    cached_domain.cache_clear()
    yield tmp_path / "data"
    cached_domain.cache_clear()


def smoke_cell(source: str, target: str, tmp_path: Path) -> dict:
    """One real cell through the harness: small_cnn, a few steps, 16 px."""
    from bench.cell.run_cell import run_cell
    from bench.plan.suite import Suite
    from bench.plan.cells import expand

    suite = Suite(name="t", backbones=[{"name": "small_cnn", "kwargs": {"width": 8}}],
                  strategies=["full_finetune"], pairs=[f"{source} -> {target}"], label_budgets=[1],
                  source={"steps": 3, "batch_size": 8}, adapt={"steps": 2, "batch_size": 8},
                  selection="source_val")
    (cell,) = expand(suite)
    row = run_cell(cell, tmp_path / "results")
    assert row["status"] == "ok", row["error"]
    assert 0 <= row["target_acc"] <= 100 and 0 <= row["source_acc_before"] <= 100
    return row


def check_domain_tensors(d, n_classes: int) -> None:
    assert d.num_classes == n_classes and d.input_shape == (3, SIZE, SIZE)
    for split in (d.train, d.test):
        assert split.x.dtype == torch.uint8 and len(split) > 0
        assert split.y.min() >= 0 and split.y.max() < n_classes
    assert d.train.augment is not None and d.val.augment is None and d.test.augment is None


# --- one test per dataset family, in its exact layout ----------------------------------------

def test_office31_folders_and_image_list(isolated, tmp_path):
    root = isolated / "office31"
    rows = {dom: class_tree(root / dom / "images", OFFICE31, 10) for dom in ("amazon", "webcam")}
    amazon = load_domain(f"office31/amazon@{SIZE}")
    check_domain_tensors(amazon, 31)
    assert (len(amazon.train), len(amazon.val), len(amazon.test)) == (186, 31, 93)
    # the published list is honoured: list the first 5 per class only -> fewer images
    write_list(root / "image_list" / "webcam.txt",
               [(f"webcam/images/{rel.split('/', 1)[1]}", lab) for rel, lab in rows["webcam"]
                if int(rel[-7:-4]) < 5])
    webcam = load_domain(f"office31/webcam@{SIZE}")
    assert len(webcam.train) + len(webcam.val) + len(webcam.test) == 31 * 5
    assert "image list" in webcam.info["split"]
    smoke_cell(f"office31/amazon@{SIZE}", f"office31/webcam@{SIZE}", tmp_path)


def test_officehome_accepts_real_world_with_a_space(isolated, tmp_path):
    root = isolated / "officehome"
    class_tree(root / "Art", OFFICEHOME, 5)
    class_tree(root / "Real World", OFFICEHOME, 5)  # the original archive's folder name
    d = load_domain(f"officehome/Real_World@{SIZE}")
    check_domain_tensors(d, 65)
    smoke_cell(f"officehome/Art@{SIZE}", f"officehome/Real_World@{SIZE}", tmp_path)


def test_visda2017_train_to_validation_with_own_lists(isolated, tmp_path):
    root = isolated / "visda2017"
    train_rows = class_tree(root / "train", VISDA, 5, ext=".png")  # synthetic renders are PNG
    class_tree(root / "validation", VISDA, 5)
    # the challenge's own list, relative to its split folder
    write_list(root / "train" / "image_list.txt", [(r.split("/", 1)[1], lab) for r, lab in train_rows])
    check_domain_tensors(load_domain(f"visda2017/train@{SIZE}"), 12)
    smoke_cell(f"visda2017/train@{SIZE}", f"visda2017/validation@{SIZE}", tmp_path)


def test_pacs_official_kfold_lists_are_the_split(isolated, tmp_path):
    root = isolated / "pacs"
    for dom in ("photo", "sketch"):
        rows = class_tree(root / dom, PACS, 12)
        train = [r for r in rows if int(r[0][-7:-4]) < 9]
        test = [r for r in rows if int(r[0][-7:-4]) >= 9]
        write_list(root / f"{dom}_train_kfold.txt", train, offset=1)  # PACS labels are 1-based
        write_list(root / f"{dom}_crossval_kfold.txt", test, offset=1)
    d = load_domain(f"pacs/photo@{SIZE}")
    check_domain_tensors(d, 7)
    assert len(d.test) == 7 * 3 and len(d.train) + len(d.val) == 7 * 9
    assert torch.equal(torch.bincount(d.test.y), torch.full((7,), 3))
    smoke_cell(f"pacs/photo@{SIZE}", f"pacs/sketch@{SIZE}", tmp_path)


def test_domainnet_published_lists(isolated, tmp_path):
    root = isolated / "domainnet"
    assert len(DOMAINNET) == 345
    for dom in ("clipart", "sketch"):
        rows = class_tree(root / dom, DOMAINNET, 3)
        write_list(root / "image_list" / f"{dom}_train.txt", [r for r in rows if r[0].endswith("0.jpg") or r[0].endswith("1.jpg")])
        write_list(root / "image_list" / f"{dom}_test.txt", [r for r in rows if r[0].endswith("2.jpg")])
    d = load_domain(f"domainnet/clipart@{SIZE}")
    check_domain_tensors(d, 345)
    assert len(d.test) == 345 and len(d.train) + len(d.val) == 690
    smoke_cell(f"domainnet/clipart@{SIZE}", f"domainnet/sketch@{SIZE}", tmp_path)


def test_generic_folder(isolated, tmp_path):
    root = isolated / "mine"
    for dom in ("summer", "winter"):
        class_tree(root / dom, ["cat", "dog", "fox"], 10)
    d = load_domain(f"folder:{root}/winter@{SIZE}")
    assert d.classes == ["cat", "dog", "fox"]
    smoke_cell(f"folder:{root}/summer@{SIZE}", f"folder:{root}/winter@{SIZE}", tmp_path)


def test_torchvision_digits_from_local_files(isolated, tmp_path):
    """MNIST and USPS in torchvision's on-disk formats (IDX, bzip2 libsvm), read by torchvision."""
    import bz2

    root = isolated / "tv-digits"
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        imgs = rng.integers(0, 255, size=(n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            np.array([0x803, n, 28, 28], dtype=">i4").tobytes() + imgs.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            np.array([0x801, n], dtype=">i4").tobytes() + labels.tobytes())
    for name, n in (("usps.bz2", 40), ("usps.t.bz2", 20)):
        lines = [f"{i % 10 + 1} " + " ".join(f"{j + 1}:{v:.3f}" for j, v in enumerate(rng.uniform(-1, 1, 256)))
                 for i in range(n)]
        (root / name).write_bytes(bz2.compress(("\n".join(lines) + "\n").encode()))
    d = load_domain("tv-digits/mnist")
    assert d.input_shape == (3, 32, 32) and len(d.test) == 20 and len(d.train) + len(d.val) == 40
    smoke_cell("tv-digits/mnist@16", "tv-digits/usps@16", tmp_path)
    from scipy.io import savemat  # SVHN's .mat layout: X [32, 32, 3, N], y [N, 1] with 10 = digit 0

    for name, n in (("train_32x32.mat", 30), ("test_32x32.mat", 10)):
        savemat(root / name, {"X": rng.integers(0, 255, size=(32, 32, 3, n), dtype=np.uint8),
                              "y": (np.arange(n) % 10 + 1).reshape(-1, 1)})
    svhn = load_domain("tv-digits/svhn")
    assert svhn.input_shape == (3, 32, 32) and sorted(svhn.test.y.tolist()) == sorted(list(range(10)))


# --- errors ----------------------------------------------------------------------------------

def test_missing_root_names_layout_and_download(isolated):
    with pytest.raises(DataError) as e:
        check_domain("office31/amazon")
    msg = str(e.value)
    assert "does not exist" in msg and "<root>/amazon/images/<class>/*.jpg" in msg
    assert "BENCH_DATA_OFFICE31" in msg and "http" in msg
    with pytest.raises(DataError, match="no domain 'amazn'"):
        check_domain("office31/amazn")
    with pytest.raises(DataError, match="tv-digits/mnist"):
        check_domain("tv-digits/mnist")


def test_wrong_layouts_give_clear_errors(isolated):
    root = isolated / "office31"
    class_tree(root / "amazon", OFFICE31, 1)  # classes directly under the domain: 'images/' missing
    with pytest.raises(DataError, match=r"class folders under .*amazon/images do not match"):
        load_domain("office31/amazon@16")
    class_tree(root / "dslr" / "images", OFFICE31[:-1], 1)  # one class missing
    with pytest.raises(DataError, match="missing \\['trash_can'\\]"):
        check_domain("office31/dslr")
    class_tree(root / "webcam" / "images", OFFICE31, 1)
    write_list(root / "image_list" / "webcam.txt", [("webcam/images/bike/nope.jpg", 1)])
    with pytest.raises(DataError, match="nope.jpg does not exist"):
        load_domain("office31/webcam@16")
    (root / "image_list" / "webcam.txt").write_text("just-a-path\n")
    with pytest.raises(DataError, match="expected '<relative path> <label>'"):
        load_domain("office31/webcam@16")


def test_corrupt_image_names_the_file(isolated):
    root = isolated / "mine"
    class_tree(root / "a", ["x", "y"], 5)
    (root / "a" / "y" / "img_002.jpg").write_bytes(b"not a jpeg at all")
    with pytest.raises(DataError, match=r"cannot decode image .*img_002.jpg"):
        load_domain(f"folder:{root}/a@16")


# --- the cache ---------------------------------------------------------------------------------

def cache_files(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "images").rglob("*.u8"))


def test_second_load_decodes_nothing_and_corruption_is_rebuilt(isolated, tmp_path):
    root = isolated / "mine"
    class_tree(root / "a", ["x", "y", "z"], 10)
    name = f"folder:{root}/a@{SIZE}"
    before = image_cache.DECODES.value
    first = load_domain(name)
    assert image_cache.DECODES.value - before == 30
    reference = first.test.x.clone()

    before = image_cache.DECODES.value
    again = load_domain(name)
    assert image_cache.DECODES.value == before  # no JPEG decoded the second time
    assert torch.equal(again.test.x, reference)

    (data,) = cache_files(tmp_path)
    blob = bytearray(data.read_bytes())
    blob[len(blob) // 2] ^= 0xFF  # one flipped byte
    data.write_bytes(bytes(blob))
    before = image_cache.DECODES.value
    rebuilt = load_domain(name)
    assert image_cache.DECODES.value - before == 30 and torch.equal(rebuilt.test.x, reference)

    data.write_bytes(data.read_bytes()[:-100])  # truncated
    before = image_cache.DECODES.value
    assert torch.equal(load_domain(name).test.x, reference)
    assert image_cache.DECODES.value - before == 30

    data.with_suffix(".json").unlink()  # a build that crashed before its sidecar
    before = image_cache.DECODES.value
    load_domain(name)
    assert image_cache.DECODES.value - before == 30


def test_cache_key_follows_resolution_and_file_list(isolated, tmp_path):
    root = isolated / "mine"
    class_tree(root / "a", ["x", "y"], 10)
    load_domain(f"folder:{root}/a@16")
    load_domain(f"folder:{root}/a@24")
    assert len(cache_files(tmp_path)) == 2
    write_image(root / "a" / "x" / "extra.jpg", 0, 99)
    assert len(load_domain(f"folder:{root}/a@16").train) + 0 >= 0
    assert len(cache_files(tmp_path)) == 3
    meta = json.loads(cache_files(tmp_path)[0].with_suffix(".json").read_text())
    assert meta["version"] == image_cache.VERSION and len(meta["chunks"]) >= 1


# --- augmentation: training batches only -------------------------------------------------------

def test_augmentation_applies_to_training_batches_only(isolated):
    from bench.data.sampler import Sampler

    root = isolated / "mine"
    class_tree(root / "a", ["x", "y"], 10)
    d = load_domain(f"folder:{root}/a@{SIZE}")
    s1 = Sampler(d.train.x, d.train.y, 8, seed=3, device="cpu", augment=d.train.augment)
    s2 = Sampler(d.train.x, d.train.y, 8, seed=3, device="cpu", augment=d.train.augment)
    (x1, y1), (x2, _) = s1.next(), s2.next()
    assert x1.dtype == torch.float32 and x1.shape == (8, 3, SIZE, SIZE)
    assert 0.0 <= x1.min() and x1.max() <= 1.0
    assert torch.equal(x1, x2)  # seeded: reproducible
    raw = d.train.x[s1._perm[:8]].float() / 255
    assert not torch.allclose(x1, raw)  # cropped / flipped
    plain = Sampler(d.test.x, d.test.y, 8, seed=3, device="cpu", augment=d.test.augment)
    assert plain.next()[0].dtype == torch.uint8  # evaluation data untouched


def test_identity_crop_reproduces_the_image():
    x = torch.randint(0, 256, (2, 3, 8, 8), dtype=torch.uint8)
    gen = torch.Generator().manual_seed(0)
    out = image_cache.random_resized_crop_flip(x, gen, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    flipped = x.float().flip(-1) / 255
    for i in range(2):  # full crop: either the image or its mirror, exactly
        assert torch.allclose(out[i], x[i].float() / 255, atol=1e-5) or torch.allclose(out[i], flipped[i], atol=1e-5)


# --- pre-flight: a run without the data fails before any cell ------------------------------------

def test_run_without_data_fails_before_any_cell(isolated, tmp_path):
    from click.testing import CliRunner

    from bench.cli import main

    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbackbones: [small_cnn]\nstrategies: [source_only]\n"
                     "pairs: ['office31/amazon@16 -> office31/webcam@16']\nlabel_budgets: [0]\n")
    res = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--no-progress"])
    assert res.exit_code == 2 and "expected Office-31 laid out as" in res.output
    assert not list((tmp_path / "r").glob("*.parquet"))
    dry = CliRunner().invoke(main, ["run", str(suite), "--results", str(tmp_path / "r"), "--dry-run"])
    assert dry.exit_code == 0, dry.output  # the grid needs no data


# --- nightly suites and the published reference ----------------------------------------------------

@pytest.mark.parametrize("name", ["nightly-gpu", "nightly-gpu-published", "officehome-gpu"])
def test_gpu_suites_parse_and_expand_without_data(name):
    from bench.plan.suite import load_suite
    from bench.plan.cells import expand

    suite = load_suite(Path(__file__).parent.parent / "suites" / f"{name}.yaml")
    cells = expand(suite)
    assert all(c.backbone.pretrained is True for c in cells)
    pairs = {c.pair for c in cells}
    assert len(pairs) == (4 if name == "officehome-gpu" else 6) and len({c.seed for c in cells}) >= 2


def test_report_shows_published_numbers_beside_measured(tmp_path):
    import pandas as pd

    from bench.analysis.reference import PUBLISHED, reference_blocks
    from bench.analysis.report import render

    rows = [{"status": "ok", "label_budget": "0", "backbone": "timm/resnet50.tv_in1k",
             "strategy": "source_only", "source_domain": f"office31/{s}", "target_domain": f"office31/{t}",
             "target_acc": acc} for s, t, acc in [("amazon", "webcam", 70.0), ("dslr", "webcam", 90.0)]]
    text = render.markdown(reference_blocks(pd.DataFrame(rows)))
    published = PUBLISHED["office31"]["avg"]["source_only"]
    row = next(line for line in text.splitlines() if line.startswith("| source_only"))
    assert [c.strip() for c in row.strip("|").split("|")] == ["source_only", f"{published:.1f}", "80.0", "2"]
    assert "| dann " in text
    assert reference_blocks(pd.DataFrame(rows).assign(source_domain="digits")) == []
