"""The network and its BatchNorm-folded inference copy."""

import pytest
import torch

from napari_diffseg.network import build_network, inference_network, recalibrate_batchnorm


@pytest.mark.parametrize("padding", ["zeros", "replicate", "reflect"])
@pytest.mark.parametrize("n_conv", [1, 2, 3])
def test_folded_network_gives_the_eval_responses(padding, n_conv):
    torch.manual_seed(0)
    network = build_network(3, 8, n_conv, padding)
    calibration = torch.rand(2, 3, 24, 20)
    recalibrate_batchnorm(network, calibration)  # non-trivial running statistics
    with torch.no_grad():
        for norm in network.modules():
            if isinstance(norm, torch.nn.BatchNorm2d):
                norm.weight.uniform_(0.5, 2.0)
                norm.bias.uniform_(-1.0, 1.0)
    image = torch.rand(1, 3, 17, 23) * 3
    folded = inference_network(network)
    with torch.no_grad():
        expected = network.eval()(image)
        got = folded(image)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-4)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded) or padding == "zeros"
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in folded) < sum(
        isinstance(m, torch.nn.BatchNorm2d) for m in network
    )


def test_folding_leaves_the_network_alone():
    torch.manual_seed(0)
    network = build_network(1, 4, 2, "replicate")
    before = {k: v.clone() for k, v in network.state_dict().items()}
    network.train()
    inference_network(network)
    assert network.training
    for key, value in network.state_dict().items():
        assert torch.equal(value, before[key]), key
