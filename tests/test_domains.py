"""The embedded image domains: digits, synth-digits, digits-c/*. No network; real sklearn / Pillow."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.data import DOMAINS, load_domain
from bench.data import digits_c, synth_digits
from bench.data.digits import digits_splits, load_digits_arrays, stratified_splits
from bench.data.synth_digits import acquire_optdigits, normalize_bitmap

SMALL = {**synth_digits.PARAMS, "n_per_class": 4}  # 40 images: for cache tests, renders in ~50 ms


@pytest.fixture(scope="module", autouse=True)
def bench_cache(tmp_path_factory):
    """Every test writes its cache under a temporary folder, never the user's home cache."""
    with pytest.MonkeyPatch.context() as mp:
        path = tmp_path_factory.mktemp("bench-cache")
        mp.setenv("BENCH_CACHE", str(path))
        yield path


@pytest.fixture(scope="module")
def synth(bench_cache):
    return load_domain("synth-digits")  # the full default domain, rendered once for the module


@pytest.fixture(scope="module")
def digits():
    return load_domain("digits")


def check_image_domain(d, name):
    assert d.name == name and d.modality == "image"
    assert d.classes == [str(i) for i in range(10)] and d.input_shape == (1, 8, 8)
    for split in (d.train, d.val, d.test):
        assert split.x.dtype == torch.float32 and split.y.dtype == torch.long
        assert split.x.ndim == 4 and split.x.shape[1:] == (1, 8, 8) and len(split.x) == len(split.y)
        assert split.x.min() >= 0.0 and split.x.max() <= 1.0
        assert set(split.y.unique().tolist()) == set(range(10))


def test_registry_lists_the_image_domains():
    assert {"digits", "synth-digits", "digits-c/*"} <= set(DOMAINS.names())
    assert "digits-c/contrast-2" in DOMAINS


def test_digits_shapes_values_and_splits(digits):
    check_image_domain(digits, "digits")
    assert (len(digits.train), len(digits.val), len(digits.test)) == (1078, 179, 540)
    x = torch.cat([digits.train.x, digits.test.x])
    assert torch.equal(x * 16, (x * 16).round())  # exactly the 0..16 counts divided by 16
    counts, y = load_digits_arrays()
    tr, va, te = digits_splits(y)
    all_idx = np.concatenate([tr, va, te])
    assert len(np.unique(all_idx)) == len(all_idx) == 1797  # disjoint and complete
    assert torch.equal(digits.test.x[:, 0] * 16, torch.from_numpy(counts[te]).float())
    # stratified: every class's share of test is within one image of 30%
    per_class = np.bincount(y)
    assert np.all(np.abs(np.bincount(y[te]) - 0.3 * per_class) <= 1)


def test_synth_digits_shapes_balance_and_splits(synth):
    check_image_domain(synth, "synth-digits")
    for split, n in ((synth.train, 180), (synth.val, 30), (synth.test, 90)):
        assert torch.bincount(split.y, minlength=10).tolist() == [n] * 10
    x = synth.train.x
    assert torch.equal(x * 16, (x * 16).round())
    tr, va, te = stratified_splits(np.arange(3000) % 10, synth_digits.SPLIT_SEED)
    assert len(np.unique(np.concatenate([tr, va, te]))) == 3000
    # not degenerate: images differ, and ink covers a plausible fraction like real digits (~30%)
    assert len(torch.unique(x.flatten(1), dim=0)) > 0.95 * len(x)
    assert 0.15 < x.mean() < 0.5


def test_loads_are_deterministic(synth, digits):
    again = load_domain("synth-digits")
    assert torch.equal(again.train.x, synth.train.x) and torch.equal(again.test.y, synth.test.y)
    assert torch.equal(load_domain("digits").val.x, digits.val.x)
    a, b = load_domain("digits-c/impulse_noise-2"), load_domain("digits-c/impulse_noise-2")
    assert torch.equal(a.train.x, b.train.x)


def test_rendering_is_deterministic_without_cache():
    c1, y1 = synth_digits.generate(SMALL)
    c2, y2 = synth_digits.generate(SMALL)
    assert np.array_equal(c1, c2) and np.array_equal(y1, y2)


def test_acquire_optdigits_known_counts():
    full = np.ones((32, 32), dtype=bool)
    assert np.array_equal(acquire_optdigits(full), np.full((8, 8), 16))
    assert np.array_equal(acquire_optdigits(np.zeros((32, 32))), np.zeros((8, 8)))
    one_block = np.zeros((32, 32), dtype=np.uint8)
    one_block[4:8, 8:12] = 1  # block row 1, block column 2
    expected = np.zeros((8, 8), dtype=int)
    expected[1, 2] = 16
    assert np.array_equal(acquire_optdigits(one_block), expected)
    straddle = np.zeros((32, 32))
    straddle[2:6, 30:32] = 1  # 2x2 pixels in block (0, 7) and 2x2 in block (1, 7)
    out = acquire_optdigits(straddle)
    assert out[0, 7] == 4 and out[1, 7] == 4 and out.sum() == 8
    rng = np.random.default_rng(0)
    b = rng.random((32, 32)) < 0.4
    loop = [[b[4 * i : 4 * i + 4, 4 * j : 4 * j + 4].sum() for j in range(8)] for i in range(8)]
    assert np.array_equal(acquire_optdigits(b), np.array(loop))
    with pytest.raises(ValueError, match="32x32"):
        acquire_optdigits(np.ones((28, 28)))


def test_normalize_bitmap_fills_height_and_centres():
    ink = np.zeros((100, 100), dtype=bool)
    ink[10:90, 40:60] = True  # 80 tall, 20 wide: scaled x0.4 -> 32 x 8, centred
    out = normalize_bitmap(ink)
    assert out.shape == (32, 32) and out.dtype == bool
    assert out[:, 12:20].all() and out.sum() == 32 * 8
    with pytest.raises(ValueError):
        normalize_bitmap(np.zeros((10, 10), dtype=bool))


def test_second_load_uses_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    first = synth_digits.build_synth_digits("synth-digits", SMALL)
    path = synth_digits.load_or_generate(SMALL)[2]
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert list(path.parent.iterdir()) == [path]  # no temp file left behind

    def no_render(*args, **kwargs):
        raise AssertionError("rendered although a valid cache exists")

    monkeypatch.setattr(synth_digits, "generate", no_render)
    again = synth_digits.build_synth_digits("synth-digits", SMALL)
    assert torch.equal(again.train.x, first.train.x)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong_shape"])
def test_corrupt_cache_is_rebuilt(monkeypatch, tmp_path, damage):
    monkeypatch.setenv("BENCH_CACHE", str(tmp_path))
    counts, y, path = synth_digits.load_or_generate(SMALL)
    if damage == "garbage":
        path.write_bytes(b"not an npz file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        np.savez(path, counts=np.zeros((3, 8, 8), np.uint8), y=np.zeros(3, np.int64))
    counts2, y2, _ = synth_digits.load_or_generate(SMALL)
    assert np.array_equal(counts2, counts) and np.array_equal(y2, y)
    assert synth_digits._read_cache(path, len(y)) is not None  # the file was rewritten, valid


def test_cache_key_tracks_parameters():
    assert synth_digits.cache_key(SMALL) != synth_digits.cache_key({**SMALL, "seed": 1})
    assert synth_digits.cache_key(SMALL) == synth_digits.cache_key(dict(SMALL))


def test_renders_with_pillow_default_font_when_no_fonts(monkeypatch, tmp_path):
    key_with_fonts = synth_digits.cache_key(SMALL)
    monkeypatch.setattr(synth_digits, "FONT_DIR", tmp_path / "no-fonts-here")
    assert synth_digits.font_files() == []
    counts, y = synth_digits.generate(SMALL)
    assert counts.shape == (40, 8, 8) and counts.max() <= 16 and (counts.sum(axis=(1, 2)) > 0).all()
    assert synth_digits.cache_key(SMALL) != key_with_fonts  # other glyphs, other cache file


def test_digits_c_names_parse():
    assert digits_c.parse_name("digits-c/gaussian_noise") == ("gaussian_noise", 3)
    assert digits_c.parse_name("digits-c/gaussian_noise-5") == ("gaussian_noise", 5)
    assert digits_c.parse_name("digits-c/contrast-1") == ("contrast", 1)
    assert len(digits_c.CORRUPTIONS) >= 6 and digits_c.DEFAULT_CORRUPTION in digits_c.CORRUPTIONS


@pytest.mark.parametrize("bad", ["digits-c/fog", "digits-c/gaussian-noise", "digits-c/contrast-9",
                                 "digits-c/contrast-0", "digits-c/"])
def test_digits_c_bad_names_say_what_is_valid(bad):
    with pytest.raises(ValueError) as err:
        load_domain(bad)
    msg = str(err.value)
    assert bad in msg and "severity 1..5" in msg and "digits-c/<corruption>-<severity>" in msg
    assert all(c in msg for c in digits_c.CORRUPTIONS)


def test_digits_c_domains(digits):
    default = load_domain("digits-c/gaussian_noise")
    explicit = load_domain("digits-c/gaussian_noise-3")
    assert default.name == "digits-c/gaussian_noise" and explicit.info["severity"] == 3
    assert torch.equal(default.test.x, explicit.test.x)  # default severity is 3, same seed
    for corruption in digits_c.CORRUPTIONS:
        d = load_domain(f"digits-c/{corruption}-2")
        check_image_domain(d, f"digits-c/{corruption}-2")
        for split, ref in ((d.train, digits.train), (d.val, digits.val), (d.test, digits.test)):
            assert torch.equal(split.y, ref.y) and split.x.shape == ref.x.shape  # digits' splits
        assert not torch.equal(d.test.x, digits.test.x)


@pytest.mark.parametrize("corruption", list(digits_c.CORRUPTIONS))
def test_severity_increases_the_shift(digits, corruption):
    dist = [(load_domain(f"digits-c/{corruption}-{s}").test.x - digits.test.x).abs().mean().item()
            for s in (1, 5)]
    assert dist[1] > dist[0] > 0
