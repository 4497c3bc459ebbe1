"""HGPO's ``context`` option: history levels by the trajectory's states (released) or by what the prompt
showed (``prompt_keys``), with hand-checked values, the loop reference, and the prompt-mixing report."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from hgpo_algo import compute_advantages, load_batch
from hgpo_algo.diagnostics import format_report
from hgpo_algo.records import StepRecordError
from hgpo_algo.state_keys import text_state_key
from tests.algo import reference

# the random rollouts' memory windows rarely equal K; that warning is not what these tests are about
pytestmark = pytest.mark.filterwarnings("ignore:HGPO K=.*differs from the memory window")


def action_only_records():
    """Three rollouts of one task: s -(x)-> u, s -(y)-> u, s -(x)-> u; only the first wins (reward 1 at step 1).

    An actions-only memory shows, at step 1, the one action taken: the prompts of A and C show "x", B's "y".
    """
    x, y = text_state_key("[step 1] x"), text_state_key("[step 1] y")
    rows = []
    for traj, action_key, won in (("A", x, 1.0), ("B", y, 0.0), ("C", x, 0.0)):
        rows.append({"group_id": 0, "traj_id": traj, "step": 0, "state_key": "s", "reward": 0.0,
                     "context_keys": [], "prompt_keys": []})
        rows.append({"group_id": 0, "traj_id": traj, "step": 1, "state_key": "u", "reward": won,
                     "context_keys": ["s"], "prompt_keys": [action_key]})
    return rows


# Hand-checked (K=1, alpha=1, weight_offset=2: rho_0 = 2, rho_1 = 3; population std):
# level 0, state u: returns [1, 0, 0] -> mean 1/3, std sqrt(2)/3 -> A +sqrt(2), B and C -1/sqrt(2);
# step 0 (state s, returns 0.95 * [1, 0, 0]) gets the same normalised values at level 0 only.
# states: level 1 (u after s) is the same pool as level 0, so A = sqrt(2), B = C = -1/sqrt(2).
# prompt: level 1 splits by the shown action: {A, C} (returns [1, 0] -> +1, -1), {B} alone (no item):
#   A = (2 sqrt(2) + 3 * 1) / 5, C = (-2 / sqrt(2) - 3) / 5, B = -1/sqrt(2) (level 0 only).
R2 = np.sqrt(2.0)
STATES = [R2, R2, -1 / R2, -1 / R2, -1 / R2, -1 / R2]
PROMPT = [R2, (2 * R2 + 3) / 5, -1 / R2, -1 / R2, -1 / R2, (-2 / R2 - 3) / 5]


def test_hand_checked_action_only_case():
    records = action_only_records()
    states = compute_advantages(records, "hgpo", K=1).advantages
    prompt = compute_advantages(records, "hgpo", K=1, context="prompt").advantages
    np.testing.assert_allclose(states, STATES, atol=1e-5)
    np.testing.assert_allclose(prompt, PROMPT, atol=1e-5)
    np.testing.assert_allclose(prompt, reference.hgpo(records, K=1, context="prompt"), atol=1e-9)
    np.testing.assert_allclose(states, reference.hgpo(records, K=1), atol=1e-9)


def test_report_measures_prompt_mixing_of_state_groups():
    report = compute_advantages(action_only_records(), "hgpo", K=1, report=True).report
    # level 0: pools (s) [A0 B0 C0] all show nothing, (u) [A1 B1 C1] show x, y, x: one outsider in 6
    # level 1: the pool (u after s) mixes prompts x, y, x: one outsider in 3
    assert [r.prompt_mixed_share for r in report] == pytest.approx([1 / 6, 1 / 3])
    assert "prompts mixed" in format_report(report)
    plain = [{k: v for k, v in r.items() if k != "prompt_keys"} for r in action_only_records()]
    report = compute_advantages(plain, "hgpo", K=1, report=True).report
    assert all(r.prompt_mixed_share is None for r in report) and "prompts mixed" not in format_report(report)


def test_prompt_context_needs_prompt_keys_and_checks_them():
    plain = [{k: v for k, v in r.items() if k != "prompt_keys"} for r in action_only_records()]
    with pytest.raises(ValueError, match="needs the records' prompt_keys"):
        compute_advantages(plain, "hgpo", context="prompt")
    with pytest.raises(ValueError, match="context"):
        compute_advantages(action_only_records(), "hgpo", context="tokens")
    too_many = action_only_records()
    too_many[0]["prompt_keys"] = ["k"]  # step 0 cannot show a history item
    with pytest.raises(StepRecordError, match="'prompt_keys' has 1 items but the step has only 0"):
        load_batch(too_many)
    wrong = action_only_records()
    wrong[1]["prompt_keys"] = "x"
    with pytest.raises(StepRecordError, match="prompt_keys"):
        load_batch(wrong)


@st.composite
def rollouts(draw, window_is_state_keys: bool):
    """Random groups of trajectories over a few states; prompt_keys either the window's state keys or
    random item keys (an actions-only or truncated memory)."""
    records = []
    H = draw(st.integers(0, 4))
    for g in range(draw(st.integers(1, 3))):
        for m in range(draw(st.integers(1, 4))):
            keys = []
            length = draw(st.integers(1, 6))
            for t in range(length):
                key = draw(st.sampled_from("abc"))
                shown = keys[max(0, t - H) : t] if window_is_state_keys else draw(
                    st.lists(st.sampled_from("xyz"), max_size=t))
                records.append({"group_id": g, "traj_id": f"{g}-{m}", "step": t, "state_key": key,
                                "reward": float(draw(st.integers(0, 1))) if t == length - 1 else 0.0,
                                "context_keys": keys[max(0, t - H) : t], "prompt_keys": shown})
                keys.append(key)
    return records, H


@given(rollouts(window_is_state_keys=True), st.integers(0, 4))
def test_a_window_keyed_by_its_states_gives_the_same_groups(drawn, K):
    """Observation window with the observations' own keys: context='prompt' equals context='states'
    whenever the window is at least K deep."""
    records, H = drawn
    if H < K:
        K = H
    states = compute_advantages(records, "hgpo", K=K).advantages
    prompt = compute_advantages(records, "hgpo", K=K, context="prompt").advantages
    np.testing.assert_array_equal(states, prompt)


@given(rollouts(window_is_state_keys=False), st.integers(0, 3), st.sampled_from(["mean_std_norm", "mean_norm"]))
def test_prompt_context_agrees_with_the_loop_reference(drawn, K, mode):
    records, _ = drawn
    got = compute_advantages(records, "hgpo", K=K, mode=mode, context="prompt").advantages
    np.testing.assert_allclose(got, reference.hgpo(records, K=K, mode=mode, context="prompt"), rtol=0, atol=1e-9)
