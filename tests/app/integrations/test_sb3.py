"""HGPOMaskablePPO: the text-command adapter, action masking, group rollouts and advantage plumbing.

Unit tests run on the real Corridor text game of the wrapper tests (fast); the learning test runs on
generated ALFWorld games.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from tests.extras import require

require("sb3_contrib", extra="sb3")
import torch as th

from hgpo.integrations.sb3 import (
    CONTEXT_SLOTS,
    CandidateScoringPolicy,
    HGPOMaskablePPO,
    TextCommandEnv,
    evaluate_success,
    fill_rollout_buffer,
)
from hgpo.integrations.text_encoding import HashingTextEncoder
from hgpo_algo import compute_advantages
from hgpo_algo.state_keys import text_state_key
from tests.wrappers.textgame import Corridor

DIM = 32


def corridor_env(n_rooms: int = 5, history_length: int = 2, max_steps: int = 8) -> TextCommandEnv:
    import gymnasium as gym

    inner = gym.wrappers.TimeLimit(Corridor(n_rooms=n_rooms), max_episode_steps=max_steps)
    return TextCommandEnv(inner, HashingTextEncoder(dim=DIM), max_actions=4, history_length=history_length)


# -- the adapter ------------------------------------------------------------------------------------
def test_observation_layout_and_masks_follow_the_admissible_commands():
    env = corridor_env()
    obs, info = env.reset(seed=3)
    assert obs.shape == env.observation_space.shape == ((len(CONTEXT_SLOTS) + 4) * DIM,)
    assert info["commands"] == ["look", "go east"]
    np.testing.assert_array_equal(env.action_masks(), [True, True, False, False])
    rows = obs.reshape(-1, DIM)
    enc = env.encoder.encode(["look", "go east"])
    np.testing.assert_array_equal(rows[len(CONTEXT_SLOTS) : len(CONTEXT_SLOTS) + 2], enc)
    assert not rows[len(CONTEXT_SLOTS) + 2 :].any()
    obs, _, _, _, info = env.step(1)  # go east
    assert info["command"] == "go east"
    assert info["commands"] == ["look", "go east", "go west"]
    np.testing.assert_array_equal(env.action_masks(), [True, True, True, False])


def test_masked_action_is_refused():
    env = corridor_env()
    env.reset(seed=0)
    with pytest.raises(ValueError, match="masked"):
        env.step(3)


def test_state_keys_and_memory_window():
    env = corridor_env(history_length=2)
    obs0, info0 = env.reset(seed=1, options={"treasure": 4})
    first_text = "Your task is to: find the treasure.\nYou are in room 0. Exits: east."
    assert info0["state_key"] == text_state_key(first_text)
    assert info0["context_keys"] == []
    keys = [info0["state_key"]]
    for _ in range(3):
        _, _, _, _, info = env.step(1)
        keys.append(info["state_key"])
    assert info["context_keys"] == keys[-3:-1]  # the last H=2 keys before the current one
    assert info["step_count"] == 3


def test_too_many_commands_warns_and_truncates():
    import gymnasium as gym

    env = TextCommandEnv(Corridor(n_rooms=5), HashingTextEncoder(dim=8), max_actions=1)
    with pytest.warns(RuntimeWarning, match="max_actions"):
        env.reset(seed=0)
        env.step(0)
        env.step(0)
    assert env.action_masks().tolist() == [True]
    assert isinstance(env.env, gym.Env)


def test_policy_never_samples_a_masked_action():
    env = corridor_env()
    model = HGPOMaskablePPO(env, estimator="grpo", group_size=2, n_groups=1, seed=0)
    assert isinstance(model.policy, CandidateScoringPolicy)
    obs, _ = env.reset(seed=0)
    mask = env.action_masks()
    dist = model.policy.get_distribution(th.as_tensor(obs[None]), action_masks=mask[None])
    probs = dist.distribution.probs.detach().numpy()[0]
    assert probs[~mask].max() == 0.0 and probs[mask].sum() == pytest.approx(1.0, abs=1e-6)
    th.manual_seed(0)
    actions = dist.get_actions().numpy()
    assert mask[actions].all()


def test_candidate_scores_are_shared_across_slots():
    """Swapping two admissible commands swaps their logits: one scorer, no per-slot weights."""
    env = corridor_env()
    model = HGPOMaskablePPO(env, estimator="grpo", group_size=2, n_groups=1, seed=0)
    env.reset(seed=0)
    obs = env.step(1)[0].reshape(-1, DIM).copy()
    s = len(CONTEXT_SLOTS)
    swapped = obs.copy()
    swapped[[s, s + 2]] = obs[[s + 2, s]]
    with th.no_grad():
        a = model.policy.mlp_extractor.forward_actor(th.as_tensor(obs.reshape(1, -1)))[0]
        b = model.policy.mlp_extractor.forward_actor(th.as_tensor(swapped.reshape(1, -1)))[0]
    assert a[0] == pytest.approx(b[2].item(), abs=1e-6) and a[2] == pytest.approx(b[0].item(), abs=1e-6)


# -- group rollouts and advantage plumbing --------------------------------------------------------------
@pytest.mark.parametrize(
    ("estimator", "options"),
    [("grpo", {}), ("gigpo", {}), ("hgpo", {"K": 2, "alpha": 1.0}), ("hgpo", {"K": 2, "mode": "mean_norm"})],
)
def test_rollout_groups_episodes_and_buffer_holds_the_estimator_advantages(estimator, options):
    env = corridor_env(n_rooms=6, max_steps=6)
    model = HGPOMaskablePPO(env, estimator=estimator, estimator_options=options, group_size=4, n_groups=3,
                            seed=7, n_epochs=1)
    model.learn(total_timesteps=1)  # exactly one rollout, then one update
    records = model.last_rollout["records"]
    by_traj: dict = {}
    for r in records:
        by_traj.setdefault(r["traj_id"], []).append(r)
    assert len(by_traj) == 12
    assert Counter(steps[0]["group_id"] for steps in by_traj.values()) == {0: 4, 1: 4, 2: 4}
    for g in range(3):
        members = [steps for steps in by_traj.values() if steps[0]["group_id"] == g]
        # same reset seed: same first observation (same task) for every member of the group
        assert len({steps[0]["state_key"] for steps in members}) == 1
        np.testing.assert_array_equal(members[0][0]["payload"]["features"], members[-1][0]["payload"]["features"])
    for steps in by_traj.values():
        assert [r["step"] for r in steps] == list(range(len(steps))) and steps[-1]["done"]
        assert steps[-1]["reward"] in (0.0, 1.0)
        keys = [r["state_key"] for r in steps]
        for t, r in enumerate(steps):  # context keys are the trajectory's previous keys (at most H=2)
            assert r["context_keys"] == keys[max(0, t - 2) : t]
            assert r["payload"]["mask"][r["payload"]["action_index"]]  # only admissible actions are taken
    expected = compute_advantages(records, estimator, gamma=model.gamma, **options)
    buf = model.rollout_buffer  # after training, sb3 has flattened its arrays to (n * n_envs, ...)
    n = len(records)
    assert buf.buffer_size == n and buf.full
    np.testing.assert_allclose(buf.advantages.reshape(-1), expected.advantages, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(buf.returns.reshape(-1), expected.returns, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(buf.actions.reshape(-1), [r["payload"]["action_index"] for r in records])
    np.testing.assert_array_equal(buf.action_masks.reshape(n, -1).astype(bool),
                                  np.stack([r["payload"]["mask"] for r in records]))
    np.testing.assert_array_equal(buf.observations.reshape(n, -1),
                                  np.stack([r["payload"]["features"] for r in records]))
    assert set(np.flatnonzero(buf.episode_starts.reshape(-1))) == {i for i, r in enumerate(records) if r["step"] == 0}
    # a group where every member succeeded or every member failed carries no GRPO signal
    if estimator == "grpo":
        for g in range(3):
            idx = [i for i, r in enumerate(records) if r["group_id"] == g]
            wins = {by_traj[records[i]["traj_id"]][-1]["won"] for i in idx}
            if len(wins) == 1:
                assert not np.any(buf.advantages.reshape(-1)[idx])
    assert model.rollout_history[-1]["episodes"] == 12.0
    assert model.num_timesteps == n


def test_rollouts_from_a_factory_use_one_environment_per_episode_on_any_backend():
    """Built from a factory, a rollout runs through collect_groups on the chosen backend."""
    import gymnasium as gym

    from tests.wrappers.textgame import ENV_ID

    def make():
        return gym.make(ENV_ID, n_rooms=6, max_episode_steps=6)

    env = TextCommandEnv(make, HashingTextEncoder(dim=DIM), max_actions=4)
    model = HGPOMaskablePPO(env, estimator="hgpo", group_size=2, n_groups=2, seed=1, n_epochs=1)
    model.learn(total_timesteps=1)
    records = model.last_rollout["records"]
    assert len({r["traj_id"] for r in records}) == 4
    with pytest.raises(ValueError, match="lack the rollout policy's payload"):
        buf = model.rollout_buffer.__class__(len(records), model.observation_space, model.action_space,
                                             model.device, gamma=model.gamma, n_envs=1)
        fill_rollout_buffer(buf, [{k: v for k, v in r.items() if k != "payload"} for r in records],
                            np.zeros(len(records), np.float32), np.zeros(len(records), np.float32))
    with pytest.raises(ValueError, match="alpha"):
        HGPOMaskablePPO(env, estimator="hgpo", estimator_options={"alpha": float("nan")})


def test_advantages_move_the_policy_towards_positive_steps():
    """One update on a rollout: the log-probability of positive-advantage actions rises on average."""
    env = corridor_env(n_rooms=6, max_steps=6)
    model = HGPOMaskablePPO(env, estimator="hgpo", group_size=8, n_groups=4, seed=3, n_epochs=4,
                            learning_rate=3e-3)
    model.learn(total_timesteps=1)
    buf = model.rollout_buffer
    n = buf.buffer_size
    with th.no_grad():
        _, logp, _ = model.policy.evaluate_actions(th.as_tensor(buf.observations.reshape(n, -1)),
                                                   th.as_tensor(buf.actions.reshape(-1)).long(),
                                                   action_masks=th.as_tensor(buf.action_masks.reshape(n, -1)))
    change = logp.numpy() - buf.log_probs.reshape(-1)
    adv = buf.advantages.reshape(-1)
    assert (adv > 0).any() and (adv < 0).any()
    assert change[adv > 0].mean() > 0 > change[adv < 0].mean()


def test_single_env_only():
    from stable_baselines3.common.vec_env import DummyVecEnv

    vec = DummyVecEnv([corridor_env, corridor_env])
    with pytest.raises(ValueError, match="n_envs=1"):
        HGPOMaskablePPO(vec, estimator="grpo", group_size=2, n_groups=1)


def test_evaluate_success_counts_wins():
    env = corridor_env(n_rooms=3, max_steps=20)
    model = HGPOMaskablePPO(env, estimator="grpo", group_size=2, n_groups=1, seed=0)
    rate = evaluate_success(model, env, [{"options": {"treasure": 1}}] * 5)
    assert rate == 1.0  # 20 random admissible steps in a 3-room corridor: the treasure next door is found
    short = corridor_env(n_rooms=6, max_steps=1)
    assert evaluate_success(model, short, [{"options": {"treasure": 5}}] * 3) == 0.0


# -- learning ---------------------------------------------------------------------------------------------
def random_admissible_success(env_factory, resets, seed: int = 0) -> float:
    """Success of the uniform random admissible policy: the baseline learning must beat."""
    env = env_factory()
    rng = np.random.default_rng(seed)
    wins = 0
    for reset in resets:
        env.reset(seed=reset.get("seed"), options=reset.get("options"))
        done = False
        while not done:
            legal = np.flatnonzero(env.action_masks())
            _, _, term, trunc, info = env.step(int(rng.choice(legal)))
            done = term or trunc
        wins += bool(info["won"])
    return wins / len(resets)


def test_learns_the_corridor_fast():
    """Treasure somewhere east of room 0 (by the reset seed), 10 steps: learning to walk east beats random."""
    th.set_num_threads(1)

    def make():
        return corridor_env(n_rooms=8, max_steps=10)

    resets = [{"seed": 1000 + i} for i in range(40)]  # tasks never seen in training (training seeds differ)
    random_rate = random_admissible_success(make, resets)
    model = HGPOMaskablePPO(make(), estimator="hgpo", group_size=8, n_groups=4, seed=0, learning_rate=3e-3)
    model.learn(total_timesteps=3_000)
    after = evaluate_success(model, make(), resets, seed=1)
    assert random_rate < 0.5
    assert after >= 0.9 and after >= random_rate + 0.4, (random_rate, after)


@pytest.fixture(scope="module")
def easy_games(tmp_path_factory):
    from hgpo_envs.alfworld.gameset import write_packed
    from hgpo_envs.alfworld.generator import GeneratorConfig, generate_games

    # the easy knobs of benchmarks/study.py: 4 receptacles, 0-1 distractor, nothing closed, one target
    config = GeneratorConfig(receptacles=(4, 4), distractors=(0, 1), closed_containers=(0, 0), target_copies=(0, 0))
    path = tmp_path_factory.mktemp("games") / "easy.jsonl.gz"
    write_packed(generate_games(4, seed=0, task_types=["pick_and_place_simple"], config=config), path)
    return path


def alfworld_env(path, max_steps: int) -> TextCommandEnv:
    import gymnasium as gym

    import hgpo_envs  # noqa: F401 - registers hgpo/ALFWorld-v0

    inner = gym.make("hgpo/ALFWorld-v0", data_dir=str(path), max_episode_steps=max_steps)
    return TextCommandEnv(inner, HashingTextEncoder(dim=64), max_actions=32, history_length=2)


def test_hgpo_learns_easy_alfworld_tasks_above_random(easy_games):
    """About 90 s on one free core: 12k environment steps on 4 generated games (random policy: ~2%)."""
    th.set_num_threads(1)
    resets = [{"options": {"game_index": i}} for i in range(4)] * 10
    random_rate = random_admissible_success(lambda: alfworld_env(easy_games, 15), resets)
    model = HGPOMaskablePPO(alfworld_env(easy_games, 15), estimator="hgpo", estimator_options={"K": 2, "alpha": 1.0},
                            group_size=8, n_groups=4, seed=0, learning_rate=3e-3, n_epochs=4, batch_size=64)
    model.learn(total_timesteps=12_000)
    after = evaluate_success(model, alfworld_env(easy_games, 15), resets, seed=1)
    assert random_rate < 0.2
    assert after >= random_rate + 0.3, (random_rate, after, model.rollout_history[-3:])


def test_save_and_load_round_trip(tmp_path):
    env = corridor_env()
    model = HGPOMaskablePPO(env, estimator="hgpo", estimator_options={"K": 2}, group_size=2, n_groups=2, seed=0)
    model.learn(total_timesteps=1)
    model.save(tmp_path / "model.zip")
    loaded = HGPOMaskablePPO.load(tmp_path / "model.zip", env=corridor_env())
    assert loaded.estimator == "hgpo" and loaded.estimator_options == {"K": 2} and loaded.group_size == 2
    obs, _ = env.reset(seed=0)
    mask = env.action_masks()
    with th.no_grad():
        a = model.policy.get_distribution(th.as_tensor(obs[None]), action_masks=mask[None]).distribution.probs
        b = loaded.policy.get_distribution(th.as_tensor(obs[None]), action_masks=mask[None]).distribution.probs
    th.testing.assert_close(a, b)
    action, _ = loaded.predict(obs, action_masks=mask, deterministic=True)
    assert mask[int(action)]


def test_any_memory_feeds_the_encoded_context():
    import gymnasium as gym

    from wrappers import ActionWindow

    inner = gym.wrappers.TimeLimit(Corridor(n_rooms=5), max_episode_steps=8)
    env = TextCommandEnv(inner, HashingTextEncoder(dim=DIM), max_actions=4, memory=ActionWindow(3))
    env.reset(seed=0, options={"treasure": 4})
    for _ in range(3):
        obs, _, _, _, info = env.step(1)
    assert [a for _, a in info["history"]] == ["go east"] * 3 and len(info["prompt_keys"]) == 3
    model = HGPOMaskablePPO(env, estimator="gigpo", group_size=2, n_groups=1, seed=0, n_epochs=1)
    model.learn(total_timesteps=1)
    assert all(len(r["prompt_keys"]) == min(3, r["step"]) for r in model.last_rollout["records"])
