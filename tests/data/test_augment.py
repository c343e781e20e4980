"""Every augmentation keeps shape and dtype, is reproducible from its seed, and changes something."""

import pytest
import torch

from cnnkit.data.augment import AUGMENTATIONS, Augmenter, default_preset, parse_augment
from cnnkit.errors import CnnkitError


def batch(c=3):
    g = torch.Generator().manual_seed(0)
    return torch.randn(16, c, 32, 32, generator=g)


@pytest.mark.parametrize("name", list(AUGMENTATIONS))
def test_shape_dtype_and_seeded_determinism(name):
    x = batch()
    aug = Augmenter.build(name, x)
    a = aug(x.clone(), torch.Generator().manual_seed(7))
    b = aug(x.clone(), torch.Generator().manual_seed(7))
    c = aug(x.clone(), torch.Generator().manual_seed(8))
    assert a.shape == x.shape and a.dtype == x.dtype
    assert torch.equal(a, b)
    assert not torch.equal(a, x) and not torch.equal(a, c)


def test_translation_moves_content_without_changing_it():
    x = torch.zeros(4, 1, 28, 28)
    x[:, :, 10:14, 10:14] = 1
    y = Augmenter.build("translate:2")(x, torch.Generator().manual_seed(0))
    assert torch.equal(y.sum(dim=(1, 2, 3)), x.sum(dim=(1, 2, 3)))  # a 2 px shift keeps the whole square


def test_flip_probability_one_mirrors_everything():
    x = batch()
    assert torch.equal(Augmenter.build("flip:1")(x, torch.Generator()), x.flip(-1))


def test_lighting_follows_principal_components():
    x = batch()
    aug = Augmenter.build("lighting:0.5", x)
    d = aug(x, torch.Generator().manual_seed(0)) - x
    assert torch.allclose(d.std(dim=(2, 3)), torch.zeros(16, 3), atol=1e-5)  # a constant shift per image


def test_parse_errors_and_presets():
    assert parse_augment("crop:4, flip") == [("crop", 4.0), ("flip", 0.5)]
    with pytest.raises(CnnkitError, match="did you mean 'rotate'"):
        parse_augment("rotat")
    with pytest.raises(CnnkitError, match="not a number"):
        parse_augment("crop:big")
    with pytest.raises(CnnkitError, match="RGB"):
        Augmenter.build("lighting", torch.zeros(2, 1, 8, 8))
    assert default_preset((1, 28, 28)) == "translate" and default_preset((3, 32, 32)) == "crop,flip"
    assert "lighting" in default_preset((3, 227, 227))
