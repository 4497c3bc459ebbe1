"""sb3-contrib's ``MaskablePPO`` trained on GRPO / GiGPO / HGPO advantages instead of GAE.

Three pieces (``pip install hgpo[sb3]``), all on the one rollout pipeline of :mod:`wrappers`:

* :class:`TextCommandEnv`: a text environment whose ``info["admissible_commands"]`` lists the legal
  commands, behind the same :class:`~wrappers.StateKey` + :class:`~wrappers.MemoryWindow` stack that
  :func:`~wrappers.collect_groups` builds, seen as a fixed-size problem: ``Discrete(max_actions)``
  actions (an index into the admissible list), an action mask (:meth:`TextCommandEnv.action_masks`),
  and a flat float32 observation (:func:`command_features`) holding the encoded context slots (task,
  current observation, the memory window's last H actions and observations) followed by one encoded row
  per candidate command. State keys and context keys are the wrappers' own.
* :class:`CandidateScoringPolicy`: a maskable actor-critic whose actor scores every candidate command
  with one shared network (so what it learns about "take the task's object" transfers across slots and
  games); the critic reads the context only.
* :class:`HGPOMaskablePPO`: each rollout is one :func:`~wrappers.collect_groups` call (``n_groups`` tasks,
  ``group_size`` episodes each from the same reset seed) whose policy is this model's; each step's
  features, mask, action, value and log-probability ride on its record's ``payload``. Advantages come from
  :func:`~hgpo_algo.compute_advantages` on those records, and MaskablePPO's clipped updates run on them.
  The value head is fitted to the discounted returns but never used for the advantages.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
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
from hgpo_algo import defaults
from hgpo_algo.api import AdvantageResult, compute_advantages
from hgpo_algo.estimators import check_options
from wrappers import Decision, Memory, MemoryWindow, StateKey, collect_groups

__all__ = [
    "CONTEXT_SLOTS",
    "CandidateScorer",
    "CandidateScoringPolicy",
    "HGPOMaskablePPO",
    "TextCommandEnv",
    "command_features",
    "evaluate_success",
    "fill_rollout_buffer",
]

#: The context slots of the observation vector, in order.
CONTEXT_SLOTS: tuple[str, ...] = ("task", "observation", "recent_actions", "recent_observations")


def command_features(info: Mapping[str, Any], encoder: TextEncoder, max_actions: int) -> tuple[np.ndarray, list[str]]:
    """The observation vector of one decision and the commands its action indexes.

    ``info`` is what :class:`~wrappers.MemoryWindow` reports (``task``, ``observation``, ``history``,
    ``admissible_commands``). Returns ``((len(CONTEXT_SLOTS) + max_actions) * d,)`` float32 with ``d =
    encoder.dim`` (context rows, then row ``i`` = command ``i``, zeros past the admissible ones) and the
    admissible commands cut to ``max_actions``.
    """
    commands = info.get("admissible_commands")
    if commands is None:
        raise KeyError("TextCommandEnv needs info['admissible_commands'] from the environment")
    commands = [str(c) for c in commands][:max_actions]
    history = info.get("history") or []
    context = [
        str(info.get("task") or info.get("task_desc") or ""),
        str(info.get("observation", "")),
        " | ".join(str(action) for _, action in history),
        " | ".join(str(obs) for obs, _ in history),
    ]
    rows = np.zeros((len(CONTEXT_SLOTS) + max_actions, int(encoder.dim)), dtype=np.float32)
    rows[: len(CONTEXT_SLOTS)] = encoder.encode(context)
    if commands:
        rows[len(CONTEXT_SLOTS) : len(CONTEXT_SLOTS) + len(commands)] = encoder.encode(commands)
    return rows.reshape(-1), commands


class TextCommandEnv(gym.Wrapper):
    """A text environment with admissible commands as a masked discrete-action environment.

    Args:
        env: the text environment, or a zero-argument factory making it (a factory lets
            :class:`HGPOMaskablePPO` build one environment per episode and roll out on any backend). Its
            ``reset``/``step`` return text observations and an ``info`` with ``admissible_commands``.
        encoder: text encoder (default :class:`HashingTextEncoder` with 128 dimensions).
        max_actions: size of the action space; commands beyond it are dropped (with a warning, once).
        history_length: H, the memory window of the :class:`~wrappers.MemoryWindow` beneath (use the
            estimator's K): the last H actions/observations are encoded and its ``context_keys`` reported.
        memory: any :class:`wrappers.Memory` instead of that window (its shown entries are encoded).

    Observation: :func:`command_features`. ``info`` is the wrapper stack's (``state_key``,
    ``context_keys``, ``history``, ``step_count``, ``prompt``, ...) plus ``commands`` (the admissible list
    the action indexes) and, after a step, ``command`` (the text sent).
    """

    def __init__(
        self,
        env: gym.Env | Callable[[], gym.Env],
        encoder: TextEncoder | None = None,
        max_actions: int = 64,
        history_length: int = defaults.HISTORY_LEVELS,
        memory: Memory | None = None,
    ) -> None:
        if max_actions < 1:
            raise ValueError(f"max_actions must be >= 1, got {max_actions}")
        if history_length < 0:
            raise ValueError(f"history_length must be >= 0, got {history_length}")
        self.factory: Callable[[], gym.Env] | None = None if isinstance(env, gym.Env) else env
        self.text_env = env if isinstance(env, gym.Env) else env()
        super().__init__(MemoryWindow(StateKey(self.text_env), history_length=history_length, memory=memory))
        self.memory = memory
        self.encoder = encoder if encoder is not None else HashingTextEncoder()
        self.dim = int(self.encoder.dim)
        self.max_actions = int(max_actions)
        self.history_length = self.env.history_length
        size = (len(CONTEXT_SLOTS) + self.max_actions) * self.dim
        self.observation_space = spaces.Box(-np.inf, np.inf, shape=(size,), dtype=np.float32)
        self.action_space = spaces.Discrete(self.max_actions)
        self._commands: list[str] = []
        self._warned = False

    def features(self, info: Mapping[str, Any]) -> tuple[np.ndarray, list[str], np.ndarray]:
        """``(observation vector, commands, mask)`` for a decision described by the wrapper stack's info."""
        total = len(info.get("admissible_commands") or [])
        if total > self.max_actions and not self._warned:
            warnings.warn(f"{total} admissible commands > max_actions={self.max_actions}: the rest are dropped "
                          "(raise max_actions)", RuntimeWarning, stacklevel=3)
            self._warned = True
        vector, commands = command_features(info, self.encoder, self.max_actions)
        mask = np.zeros(self.max_actions, dtype=bool)
        mask[: len(commands)] = True
        return vector, commands, mask

    def _observe(self, info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
        vector, self._commands, _ = self.features(info)
        return vector, {**info, "commands": list(self._commands)}

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        _, info = self.env.reset(seed=seed, options=options)
        return self._observe(info)

    def step(self, action: int | np.integer | np.ndarray) -> tuple[np.ndarray, float, bool, bool, dict]:
        index = int(np.asarray(action).reshape(-1)[0])
        if not 0 <= index < len(self._commands):
            raise ValueError(f"action {index} is masked: only {len(self._commands)} admissible commands")
        command = self._commands[index]
        _, reward, terminated, truncated, info = self.env.step(command)
        vector, info = self._observe(info)
        info["command"] = command
        return vector, float(reward), bool(terminated), bool(truncated), info

    def action_masks(self) -> np.ndarray:
        """``(max_actions,)`` bool: True for the indices of the current admissible commands."""
        mask = np.zeros(self.max_actions, dtype=bool)
        mask[: len(self._commands)] = True
        return mask


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


def fill_rollout_buffer(
    buffer: MaskableRolloutBuffer, records: Sequence[Mapping[str, Any]], advantages: np.ndarray, returns: np.ndarray
) -> None:
    """Write the records' steps into a reset ``MaskableRolloutBuffer`` of size ``len(records)``, ``n_envs=1``.

    ``records`` are step records in (trajectory, step) order whose ``payload`` holds the policy's
    ``features``, ``mask``, ``action_index``, ``value`` and ``log_prob`` (what :class:`HGPOMaskablePPO`'s
    rollout policy returns); ``advantages`` and ``returns`` are ``(n,)`` aligned with them and replace GAE's
    advantages and TD(lambda) returns (the value head's target). Marks the buffer full.
    """
    n = len(records)
    if buffer.buffer_size != n or buffer.n_envs != 1:
        raise ValueError(f"buffer must have buffer_size={n}, n_envs=1 (got {buffer.buffer_size}, {buffer.n_envs})")
    if advantages.shape != (n,) or returns.shape != (n,):
        raise ValueError(f"advantages/returns must be ({n},), got {advantages.shape}, {returns.shape}")
    try:
        payloads = [r["payload"] for r in records]
        buffer.reset()
        buffer.observations[:, 0] = np.stack([p["features"] for p in payloads])
        buffer.actions[:, 0, 0] = [p["action_index"] for p in payloads]
        buffer.values[:, 0] = [p["value"] for p in payloads]
        buffer.log_probs[:, 0] = [p["log_prob"] for p in payloads]
        buffer.action_masks[:, 0] = np.stack([p["mask"] for p in payloads]).astype(np.float32)
    except KeyError as exc:
        raise ValueError(f"records lack the rollout policy's payload field {exc}") from None
    buffer.rewards[:, 0] = [r["reward"] for r in records]
    buffer.episode_starts[:, 0] = [float(r["step"] == 0) for r in records]
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


class _Borrowed(gym.Wrapper):
    """The user's environment lent to a rollout: the rollout's ``close`` leaves it open."""

    def close(self) -> None:
        pass


def _command_env(env: gym.Env) -> TextCommandEnv:
    inner = env
    while not isinstance(inner, TextCommandEnv):
        if not isinstance(inner, gym.Wrapper):
            raise TypeError(f"HGPOMaskablePPO needs a TextCommandEnv (possibly wrapped), got {type(env).__name__}")
        inner = inner.env
    return inner


class HGPOMaskablePPO(MaskablePPO):
    """``MaskablePPO`` whose advantages come from a group estimator over complete episodes.

    Each rollout: :func:`~wrappers.collect_groups` plays ``n_groups`` tasks (task seeds drawn from
    ``seed``), ``group_size`` complete episodes each from the same reset seed, with this model's policy
    acting for every live episode at once; the step records carry the policy's features, masks, actions,
    values and log-probabilities (their ``payload``); advantages = ``compute_advantages(records,
    estimator, gamma=gamma, **estimator_options)``; value target = the records' discounted return
    ``Ghat``. Then MaskablePPO's usual clipped updates (``n_epochs`` passes of ``batch_size``
    minibatches). ``n_steps`` is unused: a rollout is as long as its episodes.

    Args:
        env: a :class:`TextCommandEnv` (or a ``DummyVecEnv`` of one) whose ``reset(seed=s)`` restarts the
            same task for the same ``s``. Episodes must end (``terminated``/``truncated``): give the text
            env a step limit. Built from an environment, its episodes play one after another on it; built
            from a factory, every episode of a rollout gets its own environment, on ``rollout_backend``.
        estimator: ``"hgpo"``, ``"gigpo"``, ``"grpo"`` (any registered name).
        estimator_options: options for it, e.g. ``{"K": 2, "alpha": 1.0}`` (checked now). For HGPO, keep
            ``K`` equal to the env's ``history_length`` (``compute_advantages`` warns otherwise).
        group_size: episodes per task. n_groups: tasks per rollout.
        rollout_backend: ``sync``, ``process`` or ``ray`` for a factory-built env (``collect_groups``).
        policy: default :class:`CandidateScoringPolicy` (``policy_kwargs`` gets ``text_dim`` from the env).
        gamma: discount of the returns (default :data:`hgpo_algo.defaults.GAMMA`).
        normalize_advantage: off by default: the estimators normalise within their groups already.
        Other keyword arguments go to ``MaskablePPO``.

    After each rollout ``self.rollout_history`` gains ``{"timesteps", "episodes", "success_rate",
    "mean_return", "mean_length"}``; ``self.last_rollout`` holds its ``records`` and the
    :class:`~hgpo_algo.AdvantageResult`.
    """

    def __init__(
        self,
        env: gym.Env | VecEnv,
        estimator: str = "hgpo",
        estimator_options: dict[str, Any] | None = None,
        group_size: int = 8,
        n_groups: int = 8,
        rollout_backend: str = "sync",
        policy: Any = None,
        policy_kwargs: dict[str, Any] | None = None,
        gamma: float = defaults.GAMMA,
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
        check_options(estimator, self.estimator_options)
        self.group_size = int(group_size)
        self.n_groups = int(n_groups)
        self.rollout_backend = rollout_backend
        policy_kwargs = dict(policy_kwargs or {})
        if policy is None:
            policy = CandidateScoringPolicy
            if "text_dim" not in policy_kwargs:
                policy_kwargs["text_dim"] = _command_env(_unwrap_single(env)).dim
        self._task_rng = np.random.default_rng(seed)
        self.rollout_history: list[dict[str, float]] = []
        self.last_rollout: dict[str, Any] = {}
        kwargs.setdefault("n_steps", max(2, self.group_size * self.n_groups))
        super().__init__(policy, env, learning_rate=learning_rate, n_epochs=n_epochs, batch_size=batch_size,
                         gamma=gamma, ent_coef=ent_coef, normalize_advantage=normalize_advantage, seed=seed,
                         policy_kwargs=policy_kwargs, **kwargs)

    def advantages_for(self, records: Sequence[Mapping[str, Any]]) -> AdvantageResult:
        """The advantages of step records under this model's estimator."""
        return compute_advantages(records, self.estimator, gamma=self.gamma, **self.estimator_options)

    def rollout_policy(self, command_env: TextCommandEnv) -> Callable[[list[str], list[dict]], list[Decision]]:
        """The ``collect_groups`` policy: this model's masked policy over every live episode at once."""

        def act(prompts: list[str], infos: list[dict[str, Any]]) -> list[Decision]:
            feats = [command_env.features(info) for info in infos]
            obs = th.as_tensor(np.stack([f[0] for f in feats]), device=self.policy.device)
            masks = np.stack([f[2] for f in feats])
            with th.no_grad():
                actions, values, log_probs = self.policy(obs, action_masks=masks)
            out = []
            for (vector, commands, mask), a, v, lp in zip(
                feats, actions.cpu().numpy(), values.cpu().numpy().reshape(-1), log_probs.cpu().numpy(), strict=True
            ):
                payload = {"features": vector, "mask": mask, "action_index": int(a), "value": float(v),
                           "log_prob": float(lp)}
                out.append(Decision(commands[int(a)], payload))
            return out

        return act

    def collect_episodes(self, env: gym.Env) -> list[dict[str, Any]]:
        """One rollout's step records (see the class docstring)."""
        command_env = _command_env(env)
        if command_env.factory is not None:
            source, backend, max_envs = command_env.factory, self.rollout_backend, None
        else:
            borrowed = _Borrowed(command_env.text_env)
            source, backend, max_envs = (lambda: borrowed), "sync", 1
        return collect_groups(
            source, self.rollout_policy(command_env), self.n_groups, self.group_size, backend=backend,
            seed=int(self._task_rng.integers(2**31 - 1)), history_length=command_env.history_length,
            memory=command_env.memory, max_envs=max_envs, include=("action",), progress=False,
        )

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
        self.policy.set_training_mode(False)
        callback.on_rollout_start()
        records = self.collect_episodes(_unwrap_single(env))
        ends = [r for r in records if r["done"]]
        returns = np.zeros(len(ends))
        lengths = np.array([r["step"] + 1 for r in ends])
        totals: dict[Any, float] = {}
        for r in records:
            totals[r["traj_id"]] = totals.get(r["traj_id"], 0.0) + r["reward"]
        returns[:] = [totals[r["traj_id"]] for r in ends]
        self.num_timesteps += len(records)
        for r, ret, length in zip(ends, returns, lengths, strict=True):
            self.ep_info_buffer.extend([{"r": float(ret), "l": int(length), "t": 0.0}])
            self.ep_success_buffer.append(bool(r["won"]))
            callback.update_locals(locals())
            if not callback.on_step():
                return False
        result = self.advantages_for(records)
        self.rollout_buffer = MaskableRolloutBuffer(
            len(records), self.observation_space, self.action_space, self.device, gamma=self.gamma, n_envs=1
        )
        fill_rollout_buffer(self.rollout_buffer, records, result.advantages.astype(np.float32),
                            result.returns.astype(np.float32))
        self.last_rollout = {"records": records, "result": result}
        self.rollout_history.append({
            "timesteps": float(self.num_timesteps),
            "episodes": float(len(ends)),
            "success_rate": float(np.mean([r["won"] for r in ends])),
            "mean_return": float(returns.mean()),
            "mean_length": float(lengths.mean()),
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
