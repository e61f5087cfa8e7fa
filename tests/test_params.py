import pytest

from napari_diffseg.params import PRESETS, Params, resolve_params


def test_paper_preset_is_the_reference_configuration():
    p = PRESETS["paper"]
    assert (p.channels, p.n_conv, p.optimizer, p.lr, p.momentum) == (100, 2, "sgd", 0.1, 0.9)
    assert (p.sim_weight, p.con_weight, p.scribble_weight) == (1.0, 1.0, 0.5)
    assert (p.min_labels, p.max_iter, p.train_pixels) == (None, 1000, None)
    assert (p.normalization, p.final_forward) == ("reference", "train")
    assert (p.padding, p.color_space, p.readout) == ("zeros", "rgb", "argmax")


def test_default_preset_is_fast_and_overrides_apply():
    assert resolve_params() == PRESETS["fast"]
    p = resolve_params("paper", max_iter=7, channels=16)
    assert (p.max_iter, p.channels) == (7, 16)
    assert resolve_params(Params(max_iter=3)).max_iter == 3


def test_to_dict_round_trips():
    p = resolve_params("fast")
    assert Params(**p.to_dict()) == p


def test_whole_image_training_switches_to_train_mode_labels():
    assert resolve_params("fast", train_pixels=None).final_forward == "train"


@pytest.mark.parametrize("preset", ["slow", "", None, 3])
def test_unknown_preset_is_refused(preset):
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_params(preset)


def test_unknown_parameter_is_refused_with_the_valid_names():
    with pytest.raises(ValueError, match=r"unknown parameter.*n_chanels.*valid parameters are"):
        resolve_params("fast", n_chanels=10)


@pytest.mark.parametrize(
    "override",
    [
        {"channels": 1},
        {"channels": 0},
        {"channels": 2.5},
        {"max_iter": 0},
        {"max_iter": True},
        {"lr": -0.1},
        {"min_labels": 0},
        {"train_pixels": 10},
        {"optimizer": "rmsprop"},
        {"unpainted": "drop"},
        {"color_space": "hsv"},
        {"readout": "forest"},
        {"threads": 0},
        {"train_pixels": 4096, "final_forward": "train"},
    ],
)
def test_invalid_values_are_refused(override):
    with pytest.raises(ValueError):
        resolve_params("fast", **override)
