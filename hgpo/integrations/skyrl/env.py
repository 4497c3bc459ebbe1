"""Our Gymnasium text environments as skyrl-gym text environments (``BaseTextEnv``), multi-turn.

:class:`GymTextEnv` runs one episode of any registered Gymnasium text environment through the rollout
wrapper stack (``wrappers.env_host.make_env``: ``StateKey``, ``MemoryWindow``, ``ActionParser``), so the
model sees the same memory-window prompt as in every other hgpo trainer and answers with
``<action>...</action>``. Each ``step`` returns the next prompt as one user message, the reward, ``done``
and ``metadata`` holding the step record of that decision (``metadata["record"]``, built by
``wrappers.EpisodeRecorder``) with its ``state_key``, ``context_keys``, ``step`` and ``invalid`` on top.

SkyRL builds environments as ``skyrl_gym.make(env_class, env_config=..., extras=...)``: ``env_config`` is
the ``skyrl_gym.<env_class>`` section of SkyRL's config (``env_id``, ``env_kwargs``, ``history_length``,
``max_steps``, ``parser_options``), ``extras`` a dataset row's ``env_extras`` (``seed``, ``options``,
``group_id``, ``traj_id``, ``max_turns``, which SkyRL's generator sets). :func:`register_envs` registers
``hgpo-alfworld``, ``hgpo-webshop`` and ``hgpo-text`` (any ``env_id``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import uuid4

from skyrl_gym.envs.base_text_env import BaseTextEnv, BaseTextEnvStepOutput

import hgpo_envs  # noqa: F401  (registers hgpo/ALFWorld-v0 and hgpo/WebShop-v0 with Gymnasium)
from wrappers import EpisodeRecorder
from wrappers.env_host import EnvSpec, make_env
from wrappers.memory import DEFAULT_HISTORY_LENGTH

__all__ = ["ENV_CLASSES", "ALFWorldTextEnv", "GymTextEnv", "WebShopTextEnv", "register_envs"]

#: skyrl-gym id -> the Gymnasium id it plays (None: ``env_config["env_id"]`` names it).
ENV_CLASSES: dict[str, str | None] = {
    "hgpo-alfworld": "hgpo/ALFWorld-v0",
    "hgpo-webshop": "hgpo/WebShop-v0",
    "hgpo-text": None,
}
_CONFIG_KEYS = {"env_id", "env_kwargs", "history_length", "max_steps", "parser_options"}


def _plain_mapping(value: Any, name: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping) and not hasattr(value, "items"):
        raise TypeError(f"{name} must be a mapping, got {type(value).__name__}")
    return {str(k): v for k, v in value.items()}


class GymTextEnv(BaseTextEnv):
    """One episode of a Gymnasium text environment as a skyrl-gym ``BaseTextEnv``.

    Args:
        env_config: ``env_id`` (a registered id such as ``"hgpo/ALFWorld-v0"``, or ``"module:Id-v0"``),
            ``env_kwargs`` for ``gym.make``, ``history_length`` (the memory window H, default 2 = HGPO's
            K), ``max_steps`` (the episode's step limit; default the environment's own) and
            ``parser_options`` for ``ActionParser``.
        extras: ``seed`` and ``options`` of the reset (the task: equal for a group), ``group_id`` and
            ``traj_id`` for the records (default: the seed and a fresh id), ``max_turns`` (an upper bound
            on the turns, as SkyRL's generator passes it).
        default_env_id: the id used when ``env_config`` names none.
    """

    def __init__(
        self,
        env_config: Mapping[str, Any] | None = None,
        extras: Mapping[str, Any] | None = None,
        *,
        default_env_id: str | None = None,
    ) -> None:
        super().__init__()
        config = _plain_mapping(env_config, "env_config")
        unknown = sorted(set(config) - _CONFIG_KEYS)
        if unknown:
            raise ValueError(f"unknown env_config key(s) {', '.join(unknown)} (known: {', '.join(sorted(_CONFIG_KEYS))})")
        env_id = config.get("env_id") or default_env_id
        if not env_id:
            raise ValueError("env_config needs an 'env_id' (a registered Gymnasium id such as 'hgpo/ALFWorld-v0')")
        self.extras = _plain_mapping(extras, "extras")
        self.spec = EnvSpec(
            env_id=str(env_id),
            env_kwargs=_plain_mapping(config.get("env_kwargs"), "env_config['env_kwargs']"),
            history_length=int(config.get("history_length", DEFAULT_HISTORY_LENGTH)),
            parse_actions=True,
            parser_options=_plain_mapping(config.get("parser_options"), "env_config['parser_options']"),
            max_steps=None if config.get("max_steps") is None else int(config["max_steps"]),
        ).resolved()
        self.env = make_env(self.spec)
        limit = self.spec.max_steps or getattr(self.env.spec, "max_episode_steps", None)
        turns = self.extras.get("max_turns")
        bounds = [int(b) for b in (limit, turns) if b is not None]
        self.max_turns = min(bounds) if bounds else 1_000_000
        seed = self.extras.get("seed")
        self.recorder = EpisodeRecorder(
            self.extras.get("group_id", seed if seed is not None else 0),
            self.extras.get("traj_id", uuid4().hex),
            include=("action", "response"),
        )
        self.records: list[dict[str, Any]] = []
        self.last_info: dict[str, Any] = {}  # the wrapped environment's latest info (admissible commands, ...)
        self.done = False

    def init(self, prompt: list[dict[str, str]] | None = None) -> tuple[list[dict[str, str]], dict[str, Any]]:
        """Reset the environment; returns ``prompt``'s system messages plus the first memory-window prompt."""
        seed = self.extras.get("seed")
        options = self.extras.get("options")
        observation, info = self.env.reset(
            seed=None if seed is None else int(seed), options=None if options is None else dict(options)
        )
        self.recorder.begin(observation, info)
        self.turns, self.done, self.records, self.last_info = 0, False, [], info
        system = [m for m in (prompt or []) if m.get("role") == "system"]
        return [*system, {"role": "user", "content": info["prompt"]}], self._state(info)

    @staticmethod
    def _state(info: Mapping[str, Any]) -> dict[str, Any]:
        return {"state_key": info["state_key"], "context_keys": list(info.get("context_keys", []))}

    def step(self, action: str) -> BaseTextEnvStepOutput:
        """Play the model's text (``<action>...</action>``); the next prompt comes back as a user message."""
        if self.done:
            raise RuntimeError("step after the episode ended (init the environment again)")
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.turns += 1
        record = self.recorder.record(action, observation, reward, terminated, truncated, info)
        self.records.append(record)
        self.last_info = info
        self.done = bool(terminated or truncated or self.turns >= self.max_turns)
        metadata = {
            "record": record,
            "step": record["step"],
            "state_key": record["state_key"],
            "context_keys": record.get("context_keys"),
            "invalid": record["invalid"],
            "won": bool(info.get("won", False)),
            "next_state": self._state(info),
        }
        messages = [] if self.done else [{"role": "user", "content": info["prompt"]}]
        return BaseTextEnvStepOutput(
            observations=messages,
            reward=float(reward),
            done=self.done,
            metadata=metadata,
            postprocessed_action=info.get("parsed_action"),
        )

    def get_metrics(self) -> dict[str, Any]:
        """``steps`` and ``won`` (numbers SkyRL averages) and the episode's per-step ``state_keys``,
        ``context_keys`` and ``invalid`` (lists, which SkyRL's aggregation skips and
        :func:`hgpo.integrations.skyrl.advantage.stepwise_metadata` reads)."""
        won = bool(self.records and self.records[-1].get("won"))
        return {
            "steps": len(self.records),
            "won": float(won),
            "state_keys": [r["state_key"] for r in self.records],
            "context_keys": [r.get("context_keys") for r in self.records],
            "invalid": [r["invalid"] for r in self.records],
        }

    def close(self) -> None:
        self.env.close()


class ALFWorldTextEnv(GymTextEnv):
    """:class:`GymTextEnv` on ``hgpo/ALFWorld-v0`` unless ``env_config`` names another id."""

    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None):
        super().__init__(env_config, extras, default_env_id=ENV_CLASSES["hgpo-alfworld"])


class WebShopTextEnv(GymTextEnv):
    """:class:`GymTextEnv` on ``hgpo/WebShop-v0`` (pass ``env_kwargs={"server_url": ...}`` for a shared server)."""

    def __init__(self, env_config: Mapping[str, Any] | None = None, extras: Mapping[str, Any] | None = None):
        super().__init__(env_config, extras, default_env_id=ENV_CLASSES["hgpo-webshop"])


_ENTRY_POINTS = {
    "hgpo-alfworld": f"{__name__}:ALFWorldTextEnv",
    "hgpo-webshop": f"{__name__}:WebShopTextEnv",
    "hgpo-text": f"{__name__}:GymTextEnv",
}


def register_envs() -> list[str]:
    """Register :data:`ENV_CLASSES` with skyrl-gym (idempotent, done on import); returns their ids.

    Entry points are ``module:Class`` strings, so a Ray worker that never imported this module resolves
    them too. The Gymnasium ids come from the environment packages (``import hgpo_envs`` registers them;
    the worker imports it through the id's own entry point).
    """
    import skyrl_gym

    for name in ENV_CLASSES:
        if name not in skyrl_gym.registry:
            skyrl_gym.register(id=name, entry_point=_ENTRY_POINTS[name])
    return list(ENV_CLASSES)


register_envs()
