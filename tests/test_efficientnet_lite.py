"""``efficientnet_lite0``: loading by position, the grey stem, and (where fetched) that the weights
are ImageNet's: Grace Hopper's portrait, shipped in matplotlib, comes out as a military uniform."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.backbones import BackboneSpec, create_model
from bench.backbones.efficientnet_lite import ARCH, FILE, SOURCE, imagenet_model
from bench.errors import DataError
from bench.sources import data_root

REAL = data_root() / SOURCE / FILE  # before a test points $BENCH_DATA elsewhere
MILITARY_UNIFORM = 652  # ImageNet-1k class index


def timm_state(seed: int) -> dict[str, torch.Tensor]:
    import timm

    torch.manual_seed(seed)
    return timm.create_model(ARCH, pretrained=False).state_dict()


def test_a_file_in_another_key_layout_loads_by_position(tmp_path):
    """Keys renamed as efficientnet_pytorch names them; order and shapes kept: each tensor lands
    where the file's order puts it."""
    state = timm_state(0)
    path = tmp_path / "other-layout.pth"
    torch.save({f"_other.{i}": v for i, v in enumerate(state.values())}, path)
    model = create_model(BackboneSpec(name="efficientnet_lite0", pretrained=str(path)), num_classes=4)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, state[key]), key
    assert model.input_size == 224 and model.feature_dim == 1280
    assert model.head.out_features == 4


def test_a_file_that_does_not_line_up_is_refused(tmp_path):
    state = timm_state(0)
    path = tmp_path / "short.pth"
    torch.save(dict(list(state.items())[:-3]), path)
    with pytest.raises(ValueError, match="do not line up"):
        create_model(BackboneSpec(name="efficientnet_lite0", pretrained=str(path)), num_classes=4)


def test_the_grey_stem_answers_a_grey_image_as_the_rgb_stem_answers_its_three_copies(tmp_path):
    path = tmp_path / "w.pth"
    torch.save(timm_state(1), path)
    spec = BackboneSpec(name="efficientnet_lite0", pretrained=str(path), input_size=64)
    grey, rgb = create_model(spec, num_classes=3, in_chans=1).eval(), create_model(spec, num_classes=3).eval()
    x = torch.rand(2, 1, 40, 40)
    with torch.no_grad():
        torch.testing.assert_close(grey.features(x), rgb.features(x.expand(-1, 3, -1, -1)),
                                   rtol=1e-4, atol=1e-4)


def test_from_scratch_needs_no_file_and_keeps_the_domain_size(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA", str(tmp_path))
    model = create_model(BackboneSpec(name="efficientnet_lite0"), num_classes=10, in_chans=1)
    assert model.input_size is None
    assert model.features(torch.rand(2, 1, 32, 32)).shape == (2, 1280)
    with pytest.raises(DataError, match="run `bench data fetch efficientnet-lite0`"):
        create_model(BackboneSpec(name="efficientnet_lite0", pretrained=True), num_classes=10)


@pytest.mark.skipif(not REAL.is_file(), reason=f"{REAL} not fetched (`bench data fetch efficientnet-lite0`; "
                    "$BENCH_DATA moves it)")
def test_the_fetched_weights_are_imagenets(monkeypatch):
    from matplotlib import cbook
    from PIL import Image

    monkeypatch.setenv("BENCH_DATA", str(REAL.parents[1]))
    model = imagenet_model()
    file = torch.load(REAL, map_location="cpu", weights_only=True)
    assert [torch.equal(a, b) for a, b in zip(model.state_dict().values(), file.values())] == [True] * len(file)
    img = Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)).convert("RGB")
    w, h = img.size
    s = min(w, h)  # centre square, then the weights' 224 px
    img = img.crop(((w - s) // 2, (h - s) // 2, (w + s) // 2, (h + s) // 2)).resize((224, 224), Image.BICUBIC)
    x = torch.from_numpy(np.array(img)).permute(2, 0, 1)[None].float() / 255
    with torch.no_grad():
        top5 = model((x - 0.5) / 0.5).topk(5).indices[0].tolist()
    assert MILITARY_UNIFORM in top5, top5


@pytest.mark.slow
def test_a_run_without_the_weights_stops_before_its_first_cell(tmp_path, monkeypatch):
    from tests.conftest import bench_cli

    monkeypatch.setenv("BENCH_DATA", str(tmp_path / "empty"))
    suite = tmp_path / "s.yaml"
    suite.write_text("name: s\nbackbones: [{name: efficientnet_lite0, pretrained: true}]\n"
                     "strategies: [linear_probe]\npairs: ['synth-digits -> digits']\nseeds: [0]\n")
    out = bench_cli("run", str(suite), "--results", str(tmp_path / "r"), "--no-progress")
    assert out.returncode == 2 and "run `bench data fetch efficientnet-lite0`" in out.stderr, out.stderr
    assert len(out.stderr.strip().splitlines()) == 1 and not list((tmp_path / "r").glob("*.parquet"))
