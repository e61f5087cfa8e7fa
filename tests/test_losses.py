"""The clustering loss: with scribbles both cross-entropies in one pass, without them the reference's formula."""

import pytest
import torch
import torch.nn.functional as F

from napari_diffseg.losses import clustering_loss, continuity_loss

WEIGHTS = {"sim_weight": 1.0, "con_weight": 0.7, "scribble_weight": 0.5}


def two_term_loss(response, pseudo, targets, *, sim_weight, con_weight, scribble_weight):
    """The loss as the method defines it: a mean cross-entropy over the unpainted pixels and one over the painted."""
    painted = targets >= 0
    logits = response.permute(0, 2, 3, 1)
    loss = con_weight * continuity_loss(response)
    if (~painted).any():
        loss = loss + sim_weight * F.cross_entropy(logits[~painted], pseudo[~painted])
    if painted.any():
        loss = loss + scribble_weight * F.cross_entropy(logits[painted], targets[painted])
    return loss


@pytest.mark.parametrize("painted_share", [0.0, 0.01, 0.3, 1.0])
def test_the_one_pass_loss_and_its_gradient_equal_the_two_term_definition(painted_share):
    generator = torch.Generator().manual_seed(0)
    response = torch.randn(3, 6, 9, 11, generator=generator, requires_grad=True)
    pseudo = response.detach().argmax(1)
    classes = torch.randint(0, 3, (3, 9, 11), generator=generator)
    painted = torch.rand(3, 9, 11, generator=generator) < painted_share
    if painted_share == 1.0:
        painted[:] = True
    targets = torch.where(painted, classes, torch.full_like(classes, -1))
    ours = clustering_loss(response, pseudo, targets, **WEIGHTS)
    (grad_ours,) = torch.autograd.grad(ours, response)
    reference = two_term_loss(response, pseudo, targets, **WEIGHTS)
    (grad_reference,) = torch.autograd.grad(reference, response)
    torch.testing.assert_close(ours, reference, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(grad_ours, grad_reference, rtol=1e-4, atol=1e-7)


def test_without_scribbles_the_loss_is_the_reference_formula_bit_for_bit():
    response = torch.randn(2, 5, 8, 8, generator=torch.Generator().manual_seed(1))
    pseudo = response.argmax(1)
    expected = 1.0 * F.cross_entropy(response, pseudo) + 0.7 * continuity_loss(response)
    assert torch.equal(clustering_loss(response, pseudo, None, **WEIGHTS), expected)
