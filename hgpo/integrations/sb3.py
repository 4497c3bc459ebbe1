"""sb3-contrib's ``MaskablePPO`` trained on GRPO / GiGPO / HGPO advantages instead of GAE.

Three pieces (``pip install hgpo[sb3]``):

* :class:`TextCommandEnv`: turns a text environment whose ``info["admissible_commands"]`` lists the legal
  commands into a fixed-size problem: ``Discrete(max_actions)`` actions (index into the admissible list),
  an action mask (:meth:`TextCommandEnv.action_masks`), and a flat float32 observation holding the encoded
  context slots (task, current observation, the last H actions, the last H observations) followed by one
  encoded row per candidate command. It keeps its own memory window of state keys (``info["state_key"]``,
  else :func:`~hgpo_algo.records.text_state_key` of the observation) and reports them as
  ``info["state_key"]`` / ``info["context_keys"]``.
* :class:`CandidateScoringPolicy`: a maskable actor-critic whose actor scores every candidate command
  with one shared network (so what it learns about "take the task's object" transfers across slots and
  games); the critic reads the context only.
* :class:`HGPOMaskablePPO`: each rollout plays ``n_groups`` tasks, each ``group_size`` times from the same
  reset seed, turns the episodes into step records, computes advantages with
  :func:`~hgpo_algo.compute_advantages` and runs MaskablePPO's clipped updates on them. The value head is
  fitted to the discounted returns but never used for the advantages.

This module imports nothing from ``hgpo_envs`` or ``wrappers``: it receives an environment (or a factory).
"""

from __future__ import annotations

import warnings
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np
import torch as th
from gymnasium import spaces
from sb3_contrib import MaskablePPO
from sb3_contrib.common.maskable.buffers import MaskableRolloutBuffer
from sb3_contrib.common.maskable.policies import MaskableActorCriticPolicy
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv
from torch import nn

from hgpo.integrations.text_encoding import HashingTextEncoder, TextEncoder
from hgpo_algo.api import AdvantageResult, compute_advantages
from hgpo_algo.records import text_state_key

__all__ = [
    "CONTEXT_SLOTS",
    "CandidateScorer",
    "CandidateScoringPolicy",
    "Episode",
    "HGPOMaskablePPO",
    "TextCommandEnv",
    "episodes_to_records",
    "evaluate_success",
    "fill_rollout_buffer",
]

#: The context slots of the observation vector, in order.
CONTEXT_SLOTS: tuple[str, ...] = ("task", "observation", "recent_actions", "recent_observations")


class TextCommandEnv(gym.Env):
    """A text environment with admissible commands as a masked discrete-action environment.

    Args:
        env: the text environment, or a zero-argument factory making it. Its ``reset``/``step`` return text
            observations and an ``info`` with ``admissible_commands``.
        encoder: text encoder (default :class:`HashingTextEncoder` with 128 dimensions).
        max_actions: size of the action space; commands beyond it are dropped (with a warning, once).
        history_length: H, the memory window: the last H actions/observations are encoded and the last H
            state keys become ``info["context_keys"]`` (use the estimator's K).

    Observation: ``(len(CONTEXT_SLOTS) * d + max_actions * d,)`` float32 with ``d = encoder.dim``: the
    context slots, then row ``i`` of the candidates is command ``i`` (zeros past the admissible ones).
    ``info`` gains ``commands`` (the admissible list the action indexes), ``command`` (after a step: the
    text sent), ``state_key``, ``context_keys`` and ``step_count``.
    """

    metadata: dict[str, Any] = {"render_modes": []}  # noqa: RUF012 - gymnasium's convention

    def __init__(
        self,
        env: gym.Env | Callable[[], gym.Env],
        encoder: TextEncoder | None = None,
        max_actions: int = 64,
        history_length: int = 2,
    ) -> None:
        if max_actions < 1:
            raise ValueError(f"max_actions must be >= 1, got {max_actions}")
        if history_length < 0:
            raise ValueError(f"history_length must be >= 0, got {history_length}")
        self.env = env if isinstance(env, gym.Env) else env()
        self.encoder = encoder if encoder is not None else HashingTextEncoder()
        self.dim = int(self.encoder.dim)
        self.max_actions = int(max_actions)
        self.history_length = int(history_length)
        size = (len(CONTEXT_SLOTS) + self.max_actions) * self.dim
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.max_actions)
        self._commands: list[str] = []
        self._task = ""
        self._observation = ""
        self._key = ""
        self._actions: deque[str] = deque(maxlen=self.history_length)
        self._observations: deque[str] = deque(maxlen=self.history_length)
        self._keys: deque[str] = deque(maxlen=self.history_length)
        self._steps = 0
        self._warned = False

    # -- helpers -------------------------------------------------------------------------------------
    def _set_commands(self, info: dict[str, Any]) -> None:
        commands = info.get("admissible_commands")
        if commands is None:
            raise KeyError("TextCommandEnv needs info['admissible_commands'] from the environment")
        commands = [str(c) for c in commands]
        if len(commands) > self.max_actions and not self._warned:
            warnings.warn(f"{len(commands)} admissible commands > max_actions={self.max_actions}: the rest "
                          "are dropped (raise max_actions)", RuntimeWarning, stacklevel=3)
            self._warned = True
        self._commands = commands[: self.max_actions]

    def _vector(self) -> np.ndarray:
        context = [self._task, self._observation, " | ".join(self._actions), " | ".join(self._observations)]
        rows = np.zeros((len(CONTEXT_SLOTS) + self.max_actions, self.dim), dtype=np.float32)
        rows[: len(CONTEXT_SLOTS)] = self.encoder.encode(context)
        if self._commands:
            rows[len(CONTEXT_SLOTS) : len(CONTEXT_SLOTS) + len(self._commands)] = self.encoder.encode(self._commands)
        return rows.reshape(-1)

    def _annotate(self, info: dict[str, Any]) -> dict[str, Any]:
        info = dict(info)
        info["commands"] = list(self._commands)
        info["state_key"] = self._key
        info["context_keys"] = list(self._keys)
        info["step_count"] = self._steps
        return info

    @staticmethod
    def _key_of(observation: str, info: dict[str, Any]) -> str:
        key = info.get("state_key")
        return str(key) if key is not None else text_state_key(observation)

    # -- gymnasium API ---------------------------------------------------------------------------------
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        observation, info = self.env.reset(seed=seed, options=options)
        self._observation = str(observation)
        self._key = self._key_of(self._observation, info)
        self._task = str(info.get("task") or info.get("task_desc") or self._observation)
        self._actions.clear()
        self._observations.clear()
        self._keys.clear()
        self._steps = 0
        self._set_commands(info)
        return self._vector(), self._annotate(info)

    def step(self, action: int | np.integer | np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        index = int(np.asarray(action).reshape(-1)[0])
        if not 0 <= index < len(self._commands):
            raise ValueError(f"action {index} is masked: only {len(self._commands)} admissible commands")
        command = self._commands[index]
        observation, reward, terminated, truncated, info = self.env.step(command)
        if self.history_length:
            self._actions.append(command)
            self._observations.append(self._observation)
            self._keys.append(self._key)
        self._steps += 1
        self._observation = str(observation)
        self._key = self._key_of(self._observation, info)
        self._set_commands(info)
        info = self._annotate(info)
        info["command"] = command
        return self._vector(), float(reward), bool(terminated), bool(truncated), info

    def action_masks(self) -> np.ndarray:
        """``(max_actions,)`` bool: True for the indices of the current admissible commands."""
        mask = np.zeros(self.max_actions, dtype=bool)
        mask[: len(self._commands)] = True
        return mask

    def close(self) -> None:
        self.env.close()


class CandidateScorer(nn.Module):
    """The actor/critic body over :class:`TextCommandEnv` observations.

    Input features ``(B, (S + M) * d)``: ``S = len(CONTEXT_SLOTS)`` context rows, ``M`` candidate rows.
    Actor: each candidate ``c_i`` (``(d,)``) is scored by one shared network from ``[c_i, s_1 * c_i, ...,
    s_S * c_i]`` (its text and its word overlap with every context slot) plus a projection of the context:
    ``logit_i = w . act(U [c_i, s * c_i] + V h_ctx) + b``. Output ``(B, M)`` logits, the action
    distribution's parameters directly. Critic: ``(B, hidden)`` from the context rows only.
    """

    def __init__(self, dim: int, max_actions: int, hidden: int = 64, n_slots: int = len(CONTEXT_SLOTS)) -> None:
        super().__init__()
        self.dim, self.max_actions, self.n_slots = dim, max_actions, n_slots
        self.latent_dim_pi = max_actions
        self.latent_dim_vf = hidden
        self.context_net = nn.Sequential(nn.Linear(n_slots * dim, hidden), nn.Tanh())
        self.candidate_net = nn.Linear((n_slots + 1) * dim, hidden)
        self.context_proj = nn.Linear(hidden, hidden, bias=False)
        self.score = nn.Linear(hidden, 1)
        self.value_net = nn.Sequential(nn.Linear(n_slots * dim, hidden), nn.Tanh(), nn.Linear(hidden, hidden),
                                       nn.Tanh())

    def _split(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        batch = features.shape[0]
        rows = features.view(batch, self.n_slots + self.max_actions, self.dim)
        return rows[:, : self.n_slots], rows[:, self.n_slots :]

    def forward_actor(self, features: th.Tensor) -> th.Tensor:
        context, candidates = self._split(features)  # (B, S, d), (B, M, d)
        overlap = context[:, None, :, :] * candidates[:, :, None, :]  # (B, M, S, d)
        scale = float(self.dim) ** 0.5  # unit-norm rows: bring the overlap features to O(1)
        x = th.cat([candidates, scale * overlap.flatten(2)], dim=-1)  # (B, M, (S+1) d)
        h_ctx = self.context_net(context.flatten(1))  # (B, hidden)
        z = th.tanh(self.candidate_net(x) + self.context_proj(h_ctx)[:, None, :])  # (B, M, hidden)
        return self.score(z).squeeze(-1)  # (B, M)

    def forward_critic(self, features: th.Tensor) -> th.Tensor:
        context, _ = self._split(features)
        return self.value_net(context.flatten(1))

    def forward(self, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
        return self.forward_actor(features), self.forward_critic(features)


class CandidateScoringPolicy(MaskableActorCriticPolicy):
    """``MaskableActorCriticPolicy`` whose actor is :class:`CandidateScorer` (shared per-candidate scoring).

    Extra policy kwargs: ``text_dim`` (the encoder's d; required) and ``hidden`` (default 64). The
    observation must be a :class:`TextCommandEnv` vector and the action space ``Discrete(max_actions)``.
    """

    def __init__(self, *args: Any, text_dim: int, hidden: int = 64, **kwargs: Any) -> None:
        self.text_dim = int(text_dim)
        self.hidden = int(hidden)
        super().__init__(*args, **kwargs)

    def _build_mlp_extractor(self) -> None:
        n_actions = int(self.action_space.n)
        expected = (len(CONTEXT_SLOTS) + n_actions) * self.text_dim
        if self.features_dim != expected:
            raise ValueError(f"observation size {self.features_dim} != (slots + max_actions) * text_dim = {expected}")
        self.mlp_extractor = CandidateScorer(self.text_dim, n_actions, self.hidden)

    def _build(self, lr_schedule: Any) -> None:
        super()._build(lr_schedule)
        self.action_net = nn.Identity()  # the scorer's (B, M) output are the logits
        nn.init.orthogonal_(self.mlp_extractor.score.weight, gain=0.01)
        nn.init.zeros_(self.mlp_extractor.score.bias)
        self.optimizer = self.optimizer_class(self.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs)


@dataclass
class Episode:
    """One complete episode as collected: per-step arrays of length ``T`` plus its group and keys."""

    group_id: int
    traj_id: int
    observations: list[np.ndarray] = field(default_factory=list)  # T x (obs_dim,)
    actions: list[int] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    log_probs: list[float] = field(default_factory=list)
    masks: list[np.ndarray] = field(default_factory=list)  # T x (max_actions,) bool
    state_keys: list[str] = field(default_factory=list)
    context_keys: list[list[str]] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)
    won: bool = False

    def __len__(self) -> int:
        return len(self.actions)


def episodes_to_records(episodes: Sequence[Episode]) -> list[dict[str, Any]]:
    """Step records (the ``hgpo_algo`` schema) of the episodes, in episode then step order.

    Each record has ``group_id``, ``traj_id``, ``step``, ``state_key`` (what the agent saw before acting),
    ``reward``, ``invalid`` (always false: masked actions are admissible), ``context_keys`` and ``action``.
    """
    records = []
    for ep in episodes:
        for t in range(len(ep)):
            records.append({
                "group_id": ep.group_id,
                "traj_id": ep.traj_id,
                "step": t,
                "state_key": ep.state_keys[t],
                "reward": float(ep.rewards[t]),
                "invalid": False,
                "context_keys": list(ep.context_keys[t]),
                "action": ep.commands[t],
            })
    return records


def fill_rollout_buffer(
    buffer: MaskableRolloutBuffer, episodes: Sequence[Episode], advantages: np.ndarray, returns: np.ndarray
) -> None:
    """Write the episodes' steps into a reset ``MaskableRolloutBuffer`` of size ``sum(len(ep))``, ``n_envs=1``.

    ``advantages`` and ``returns`` are ``(n,)`` in :func:`episodes_to_records` order; they replace GAE's
    advantages and TD(lambda) returns (the value head's target). Marks the buffer full.
    """
    n = sum(len(ep) for ep in episodes)
    if buffer.buffer_size != n or buffer.n_envs != 1:
        raise ValueError(f"buffer must have buffer_size={n}, n_envs=1 (got {buffer.buffer_size}, {buffer.n_envs})")
    if advantages.shape != (n,) or returns.shape != (n,):
        raise ValueError(f"advantages/returns must be ({n},), got {advantages.shape}, {returns.shape}")
    buffer.reset()
    i = 0
    for ep in episodes:
        T = len(ep)
        buffer.observations[i : i + T, 0] = np.stack(ep.observations)
        buffer.actions[i : i + T, 0, 0] = ep.actions
        buffer.rewards[i : i + T, 0] = ep.rewards
        buffer.episode_starts[i : i + T, 0] = 0.0
        buffer.episode_starts[i, 0] = 1.0
        buffer.values[i : i + T, 0] = ep.values
        buffer.log_probs[i : i + T, 0] = ep.log_probs
        buffer.action_masks[i : i + T, 0] = np.stack(ep.masks).astype(np.float32)
        i += T
    buffer.advantages[:, 0] = advantages
    buffer.returns[:, 0] = returns
    buffer.pos = n
    buffer.full = True


def _policy_step(policy: MaskableActorCriticPolicy, obs: np.ndarray, mask: np.ndarray,
                 deterministic: bool = False) -> tuple[int, float, float]:
    with th.no_grad():
        obs_t = th.as_tensor(obs[None], device=policy.device)
        if deterministic:
            dist = policy.get_distribution(obs_t, action_masks=mask[None])
            action = dist.get_actions(deterministic=True)
            return int(action.item()), 0.0, 0.0
        action, value, log_prob = policy(obs_t, action_masks=mask[None])
    return int(action.item()), float(value.item()), float(log_prob.item())


def _unwrap_single(env: VecEnv | gym.Env) -> gym.Env:
    if isinstance(env, DummyVecEnv):
        if env.num_envs != 1:
            raise ValueError("HGPOMaskablePPO plays its groups on one environment: pass n_envs=1")
        return env.envs[0]
    if isinstance(env, VecEnv):
        raise ValueError("HGPOMaskablePPO needs a gymnasium env or a DummyVecEnv with one env")
    return env


class HGPOMaskablePPO(MaskablePPO):
    """``MaskablePPO`` whose advantages come from a group estimator over complete episodes.

    Each rollout: for each of ``n_groups`` tasks (a reset seed drawn from ``seed``), play ``group_size``
    complete episodes from ``reset(seed=task_seed)``; build step records; advantages =
    ``compute_advantages(records, estimator, gamma=gamma, **estimator_options)``; value target = the
    records' discounted return ``Ghat``. Then MaskablePPO's usual clipped updates (``n_epochs`` passes of
    ``batch_size`` minibatches). ``n_steps`` is unused: a rollout is as long as its episodes.

    Args:
        env: a :class:`TextCommandEnv` (or any env with ``action_masks()`` and ``info["state_key"]`` whose
            ``reset(seed=s)`` restarts the same task for the same ``s``), or a ``DummyVecEnv`` of one.
            Episodes must end (``terminated``/``truncated``): give the text env a step limit. For HGPO,
            keep the estimator's ``K`` equal to the env's ``history_length`` (``compute_advantages`` warns
            otherwise).
        estimator: ``"hgpo"``, ``"gigpo"``, ``"grpo"`` (any registered name).
        estimator_options: options for it, e.g. ``{"K": 2, "alpha": 1.0}``.
        group_size: episodes per task. n_groups: tasks per rollout.
        policy: default :class:`CandidateScoringPolicy` (``policy_kwargs`` gets ``text_dim`` from the env).
        gamma: discount of the returns (default 0.95, the estimators' default).
        normalize_advantage: off by default: the estimators normalise within their groups already.
        Other keyword arguments go to ``MaskablePPO``.

    After each rollout ``self.rollout_history`` gains ``{"timesteps", "episodes", "success_rate",
    "mean_return", "mean_length"}``; ``self.last_rollout`` holds its ``episodes``, ``records`` and the
    :class:`~hgpo_algo.AdvantageResult`.
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        estimator: str = "hgpo",
        estimator_options: dict[str, Any] | None = None,
        group_size: int = 8,
        n_groups: int = 8,
        policy: Any = None,
        policy_kwargs: dict[str, Any] | None = None,
        gamma: float = 0.95,
        learning_rate: float = 1e-3,
        n_epochs: int = 4,
        batch_size: int = 128,
        ent_coef: float = 0.01,
        normalize_advantage: bool = False,
        seed: int | None = None,
        **kwargs: Any,
    ) -> None:
        if group_size < 1 or n_groups < 1:
            raise ValueError(f"group_size and n_groups must be >= 1, got {group_size}, {n_groups}")
        self.estimator = estimator
        self.estimator_options = dict(estimator_options or {})
        self.group_size = int(group_size)
        self.n_groups = int(n_groups)
        policy_kwargs = dict(policy_kwargs or {})
        if policy is None:
            policy = CandidateScoringPolicy
            if "text_dim" not in policy_kwargs:
                inner = _unwrap_single(env)
                dim = getattr(inner, "dim", None)
                if dim is None:
                    dim = inner.get_wrapper_attr("dim")
                policy_kwargs["text_dim"] = int(dim)
        self._task_rng = np.random.default_rng(seed)
        self.rollout_history: list[dict[str, float]] = []
        self.last_rollout: dict[str, Any] = {}
        kwargs.setdefault("n_steps", max(2, self.group_size * self.n_groups))
        super().__init__(policy, env, learning_rate=learning_rate, n_epochs=n_epochs, batch_size=batch_size,
                         gamma=gamma, ent_coef=ent_coef, normalize_advantage=normalize_advantage, seed=seed,
                         policy_kwargs=policy_kwargs, **kwargs)

    def advantages_for(self, episodes: Sequence[Episode]) -> tuple[list[dict[str, Any]], AdvantageResult]:
        """The step records of ``episodes`` and their advantages under this model's estimator."""
        records = episodes_to_records(episodes)
        result = compute_advantages(records, self.estimator, gamma=self.gamma, **self.estimator_options)
        return records, result

    def play_episode(self, env: gym.Env, seed: int | None, group_id: int, traj_id: int,
                     options: dict[str, Any] | None = None) -> Episode:
        """One complete episode with the current stochastic policy, recorded for training."""
        masks_of = env.get_wrapper_attr("action_masks")
        obs, info = env.reset(seed=seed, options=options)
        ep = Episode(group_id=group_id, traj_id=traj_id)
        done = False
        while not done:
            mask = np.asarray(masks_of(), dtype=bool)
            action, value, log_prob = _policy_step(self.policy, obs, mask)
            ep.observations.append(obs)
            ep.masks.append(mask)
            ep.state_keys.append(str(info["state_key"]))
            ep.context_keys.append(list(info.get("context_keys", [])))
            commands = info.get("commands")
            ep.commands.append(str(commands[action]) if commands else str(action))
            obs, reward, terminated, truncated, info = env.step(action)
            ep.actions.append(action)
            ep.rewards.append(float(reward))
            ep.values.append(value)
            ep.log_probs.append(log_prob)
            done = terminated or truncated
            ep.won = bool(info.get("won", reward > 0))
        return ep

    def collect_rollouts(  # type: ignore[override]
        self,
        env: VecEnv,
        callback: BaseCallback,
        rollout_buffer: MaskableRolloutBuffer,
        n_rollout_steps: int,
        use_masking: bool = True,
    ) -> bool:
        if not use_masking:
            raise ValueError("HGPOMaskablePPO always uses action masks")
        inner = _unwrap_single(env)
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        episodes: list[Episode] = []
        for g in range(self.n_groups):
            task_seed = int(self._task_rng.integers(2**31 - 1))
            for _ in range(self.group_size):
                ep = self.play_episode(inner, task_seed, group_id=g, traj_id=len(episodes))
                episodes.append(ep)
                self.num_timesteps += len(ep)
                self.ep_info_buffer.extend([{"r": float(sum(ep.rewards)), "l": len(ep), "t": 0.0}])
                self.ep_success_buffer.append(ep.won)
                callback.update_locals(locals())
                if not callback.on_step():
                    return False
        records, result = self.advantages_for(episodes)
        n = len(records)
        self.rollout_buffer = MaskableRolloutBuffer(
            n, self.observation_space, self.action_space, self.device, gamma=self.gamma, n_envs=1
        )
        fill_rollout_buffer(self.rollout_buffer, episodes, result.advantages.astype(np.float32),
                            result.returns.astype(np.float32))
        self.last_rollout = {"episodes": episodes, "records": records, "result": result}
        self.rollout_history.append({
            "timesteps": float(self.num_timesteps),
            "episodes": float(len(episodes)),
            "success_rate": float(np.mean([ep.won for ep in episodes])),
            "mean_return": float(np.mean([sum(ep.rewards) for ep in episodes])),
            "mean_length": float(np.mean([len(ep) for ep in episodes])),
        })
        callback.on_rollout_end()
        return True


def evaluate_success(
    model: MaskablePPO,
    env: gym.Env,
    resets: Sequence[dict[str, Any]],
    deterministic: bool = False,
    seed: int = 0,
) -> float:
    """Success rate of ``model`` on ``env`` over the given resets (``{"seed": s}`` or ``{"options": {...}}``).

    ``deterministic=False`` samples from the masked policy (torch seeded by ``seed``); success is
    ``info["won"]`` at the end of the episode (else a positive last reward).
    """
    masks_of = env.get_wrapper_attr("action_masks")
    wins = 0
    generator_state = th.random.get_rng_state()
    th.manual_seed(seed)
    try:
        for reset in resets:
            obs, info = env.reset(seed=reset.get("seed"), options=reset.get("options"))
            done = False
            while not done:
                action, _, _ = _policy_step(model.policy, obs, np.asarray(masks_of(), dtype=bool), deterministic)
                obs, reward, terminated, truncated, info = env.step(action)
                done = terminated or truncated
            wins += bool(info.get("won", reward > 0))
    finally:
        th.random.set_rng_state(generator_state)
    return wins / max(1, len(resets))
