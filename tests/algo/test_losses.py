"""PPO clipped policy loss, KL penalties and entropy against hand-computed values."""

from __future__ import annotations

import math

import pytest

from tests.extras import require

torch = require("torch", extra="train")

from hgpo_algo import defaults
from hgpo_algo.losses import (
    CLIP_RATIO,
    KL_COEF,
    LOG_RATIO_CLAMP,
    aggregate,
    entropy_loss,
    kl_loss,
    kl_penalty,
    policy_loss,
)

MASK = torch.tensor([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
# log-ratios: row 0 r = 1.5, 0.5, (pad); row 1 r = 1.1, 0.7, 1.0
LOG_RATIO = torch.log(torch.tensor([[1.5, 0.5, 1.0], [1.1, 0.7, 1.0]], dtype=torch.float64))
OLD = torch.tensor([[-1.0, -2.0, -3.0], [-0.5, -1.5, -2.5]], dtype=torch.float64)
ADV = torch.tensor([2.0, -1.0], dtype=torch.float64)

# Per token max(-A r, -A clip(r, 0.8, 1.2)):
# row 0 (A=2):  r=1.5 -> max(-3.0, -2.4) = -2.4 (clipped);  r=0.5 -> max(-1.0, -1.6) = -1.0
# row 1 (A=-1): r=1.1 -> 1.1;  r=0.7 -> max(0.7, 0.8) = 0.8 (clipped);  r=1.0 -> 1.0
EXPECTED = {
    "token-mean": (-2.4 - 1.0 + 1.1 + 0.8 + 1.0) / 5,
    "seq-mean-token-mean": ((-3.4 / 2) + (2.9 / 3)) / 2,
    "seq-mean-token-sum": (-3.4 + 2.9) / 2,
    "seq-mean-token-sum-norm": (-3.4 + 2.9) / (2 * 3),
}


@pytest.mark.parametrize("agg", list(EXPECTED))
def test_policy_loss_hand_computed(agg):
    logprob = OLD + LOG_RATIO
    out = policy_loss(logprob, OLD, ADV, MASK, agg=agg)
    assert out.loss.item() == pytest.approx(EXPECTED[agg], abs=1e-12)
    assert out.clip_fraction.item() == pytest.approx(2 / 5)
    expected_kl = -(math.log(1.5) + math.log(0.5) + math.log(1.1) + math.log(0.7)) / 5
    assert out.approx_kl.item() == pytest.approx(expected_kl, abs=1e-12)


def test_policy_loss_gradient_flows_only_through_unclipped_tokens():
    logprob = (OLD + LOG_RATIO).clone().requires_grad_(True)
    policy_loss(logprob, OLD, ADV, MASK).loss.backward()
    grad = logprob.grad
    # d/dlogp of -A r = -A r; divided by 5 real tokens; clipped and padded tokens get 0
    expected = torch.tensor([[0.0, -2 * 0.5 / 5, 0.0], [1.1 / 5, 0.0, 1.0 / 5]], dtype=torch.float64)
    torch.testing.assert_close(grad, expected)


def test_per_token_advantages_and_asymmetric_clip():
    logprob = OLD + LOG_RATIO
    per_token = ADV[:, None].expand(2, 3)
    a = policy_loss(logprob, OLD, ADV, MASK).loss
    b = policy_loss(logprob, OLD, per_token, MASK).loss
    assert a.item() == b.item()
    # clip_ratio_high = 0.6: row 0 token 0 (r = 1.5) is no longer clipped: -3.0 instead of -2.4
    wide = policy_loss(logprob, OLD, ADV, MASK, clip_ratio_high=0.6).loss
    assert wide.item() == pytest.approx(EXPECTED["token-mean"] - 0.6 / 5)


def test_kl_penalties_hand_computed():
    logp = torch.tensor([[math.log(2.0), -math.log(2.0), -20.0]], dtype=torch.float64)
    ref = torch.zeros_like(logp)
    # k3 = exp(-d) + d - 1
    low_var = kl_penalty(logp, ref, "low_var_kl")
    torch.testing.assert_close(
        low_var, torch.tensor([[0.5 + math.log(2) - 1, 2 - math.log(2) - 1, 10.0]], dtype=torch.float64)
    )
    assert kl_penalty(logp, ref, "kl")[0, 0].item() == pytest.approx(math.log(2))
    assert kl_penalty(logp, ref, "mse")[0, 1].item() == pytest.approx(0.5 * math.log(2) ** 2)
    assert kl_penalty(logp, ref, "abs")[0, 1].item() == pytest.approx(math.log(2))
    mask = torch.tensor([[1.0, 1.0, 0.0]])
    expected = (0.5 + math.log(2) - 1 + 2 - math.log(2) - 1) / 2
    assert kl_loss(logp, ref, mask).item() == pytest.approx(expected)
    assert kl_loss(ref, ref, mask).item() == 0.0


def test_entropy_hand_computed():
    logits = torch.zeros(1, 2, 4)
    logits[0, 1] = torch.tensor([0.0, 0.0, -1e9, -1e9])  # two equally likely tokens
    mask = torch.ones(1, 2)
    assert entropy_loss(logits, mask).item() == pytest.approx((math.log(4) + math.log(2)) / 2, abs=1e-6)


def test_bad_shapes_and_modes():
    with pytest.raises(ValueError, match="unknown aggregation 'mean'"):
        aggregate(torch.zeros(2, 3), MASK, "mean")
    with pytest.raises(ValueError, match="expected shape"):
        policy_loss(torch.zeros(2, 4), torch.zeros(2, 4), ADV, MASK)
    with pytest.raises(ValueError, match="unknown KL kind"):
        kl_penalty(torch.zeros(1, 1), torch.zeros(1, 1), "js")


def test_log_ratio_is_clamped_before_the_exponent():
    """A token whose log-probability moved by 50 nats: the ratio is e^20, not inf, and nothing is NaN."""
    old = torch.zeros(1, 2, dtype=torch.float64)
    logprob = torch.tensor([[50.0, 0.0]], dtype=torch.float64, requires_grad=True)
    mask = torch.ones(1, 2, dtype=torch.float64)
    out = policy_loss(logprob, old, torch.tensor([-1.0], dtype=torch.float64), mask)
    # token 0: max(e^20, 1.2) = e^20 (clamped ratio); token 1: r = 1 -> max(1, 1) = 1
    assert out.loss.item() == pytest.approx((math.exp(LOG_RATIO_CLAMP) + 1.0) / 2)
    out.loss.backward()
    assert torch.isfinite(logprob.grad).all() and logprob.grad[0, 0].item() == 0.0  # beyond the clamp
    zero_adv = policy_loss(logprob.detach() * 100, old, torch.tensor([0.0], dtype=torch.float64), mask)
    assert zero_adv.loss.item() == 0.0  # 0 * inf would be NaN without the clamp
    assert LOG_RATIO_CLAMP == 20.0


def test_loss_defaults_come_from_the_defaults_module():
    assert CLIP_RATIO == defaults.CLIP_RATIO and KL_COEF == defaults.KL_COEF
    import inspect

    assert inspect.signature(policy_loss).parameters["agg"].default == defaults.LOSS_AGG
    assert inspect.signature(kl_loss).parameters["kind"].default == defaults.KL_KIND
