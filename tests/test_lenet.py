"""LeNet as TLlib defines it: layer shapes and parameter count in closed form, and its input size."""
import pytest
import torch

from bench.backbones import BackboneSpec, count_params, create_model


def test_lenet_has_tllibs_layers_and_parameter_count():
    m = create_model("lenet", num_classes=10, in_chans=1)
    convs = [l for l in m.backbone.modules() if isinstance(l, torch.nn.Conv2d)]
    linears = [l for l in m.backbone.modules() if isinstance(l, torch.nn.Linear)]
    assert [(c.in_channels, c.out_channels, c.kernel_size) for c in convs] == [(1, 20, (5, 5)), (20, 50, (5, 5))]
    assert [(l.in_features, l.out_features) for l in linears] == [(800, 500)]
    # conv1 1*20*25+20, conv2 20*50*25+50, fc 800*500+500: the backbone; head 500*10+10
    backbone = sum(p.numel() for p in m.backbone.parameters())
    assert backbone == (20 * 25 + 20) + (20 * 50 * 25 + 50) + (800 * 500 + 500)
    assert count_params(m)[0] == backbone + 500 * 10 + 10
    assert len(m.layer_groups()) == 4  # conv1, conv2, fc, head


def test_lenet_gives_500_features_and_resizes_16px_digits_to_28():
    m = create_model("lenet", num_classes=10, in_chans=1).eval()
    x = torch.randint(0, 256, (4, 1, 16, 16), dtype=torch.uint8)  # USPS-sized input
    assert m.features(x).shape == (4, 500) and m(x).shape == (4, 10)


def test_lenet_refuses_another_input_size_and_library_weights():
    with pytest.raises(ValueError, match="28x28"):
        create_model(BackboneSpec(name="lenet", input_size=32), num_classes=10, in_chans=1)
    with pytest.raises(ValueError, match="no published weights"):
        create_model(BackboneSpec(name="lenet", pretrained=True), num_classes=10, in_chans=1)
