"""A verl agent loop that plays one of our Gymnasium text environments step-wise: one sample per step.

:class:`GymEnvAgentLoop` (registered in verl's agent-loop registry as ``hgpo_gym_env``) runs one episode
through the rollout wrapper stack (``wrappers.env_host.make_env``: state keys, memory window, action
parser). At every step it builds the memory-window prompt (the dataset row's system messages plus
``info["prompt"]`` as the user message) with verl's Continuous Token builder, asks verl's LLM server for
the response (``server_manager.generate``, what verl's own loops call), plays the decoded text in the
environment and emits one ``AgentLoopOutput`` whose ``extra_fields`` carry the step record: ``group_id``
(the prompt's ``uid``), ``traj_id``, ``step``, ``state_key``, ``context_keys``, ``invalid``, ``reward``.
verl turns ``extra_fields`` into ``non_tensor_batch`` columns, which
:func:`hgpo.integrations.verl.advantage.compute_advantage` reads.

``run`` returns the list of per-step outputs, which verl 0.9's TransferQueue agent-loop worker
(``trainer.use_v1=True``) stores as one sample each (keys ``{uid}_{session}_{step}``); the legacy
worker takes one output per prompt and cannot hold a step-wise episode.

Configuration, in the trainer config's ``hgpo.env`` section: ``env_id`` (e.g. ``hgpo/ALFWorld-v0``),
``env_kwargs`` (``server_url`` for one shared WebShop server), ``history_length`` (H, default 2),
``max_steps`` and ``parser_options``. Per task, the dataset row's ``extra_info`` holds the reset ``seed``
and ``options`` (the same for every rollout of a group).
"""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import uuid4

from verl.experimental.agent_loop.agent_loop import AgentLoopBase, AgentLoopOutput, register

import hgpo_envs  # noqa: F401  (registers hgpo/ALFWorld-v0 and hgpo/WebShop-v0 with Gymnasium)
from wrappers import EpisodeRecorder
from wrappers.env_host import EnvSpec, make_env
from wrappers.memory import DEFAULT_HISTORY_LENGTH

__all__ = ["AGENT_NAME", "GymEnvAgentLoop", "env_spec_from_config"]

AGENT_NAME = "hgpo_gym_env"
_KEYS = {"env_id", "env_kwargs", "history_length", "max_steps", "parser_options"}


def _plain(value: Any) -> Any:
    """OmegaConf containers to plain dicts/lists (the wrappers take plain data)."""
    try:
        from omegaconf import DictConfig, ListConfig, OmegaConf
    except ImportError:  # pragma: no cover - omegaconf comes with verl
        return value
    if isinstance(value, (DictConfig, ListConfig)):
        return OmegaConf.to_container(value, resolve=True)
    return value


def env_spec_from_config(section: Any) -> EnvSpec:
    """The :class:`~wrappers.env_host.EnvSpec` of a ``hgpo.env`` config section (with action parsing).

    Raises:
        ValueError: no section, no ``env_id`` or an unknown key (the message names it).
    """
    cfg = _plain(section)
    if not cfg or not cfg.get("env_id"):
        raise ValueError("the trainer config needs hgpo.env.env_id (e.g. +hgpo.env.env_id=hgpo/ALFWorld-v0)")
    unknown = sorted(set(cfg) - _KEYS)
    if unknown:
        raise ValueError(f"unknown hgpo.env key(s) {', '.join(unknown)} (known: {', '.join(sorted(_KEYS))})")
    return EnvSpec(
        env_id=str(cfg["env_id"]),
        env_kwargs=dict(cfg.get("env_kwargs") or {}),
        history_length=int(cfg.get("history_length", DEFAULT_HISTORY_LENGTH)),
        parse_actions=True,
        parser_options=dict(cfg.get("parser_options") or {}),
        max_steps=None if cfg.get("max_steps") is None else int(cfg["max_steps"]),
    ).resolved()


@register(AGENT_NAME)
class GymEnvAgentLoop(AgentLoopBase):
    """verl ``AgentLoopBase`` over our environments; see the module docstring."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prompt_length = int(self.rollout_config.prompt_length)
        self.response_length = int(self.rollout_config.response_length)
        self.spec = env_spec_from_config((self.config.get("hgpo") or {}).get("env"))

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> list[AgentLoopOutput]:
        """Play one episode; one output per step (prompt, response, response mask, log-probs, record)."""
        extra = _plain(kwargs.get("extra_info")) or {}
        seed, options = extra.get("seed"), extra.get("options")
        uid = str(kwargs.get("uid", uuid4().hex))
        traj = f"{uid}_{kwargs['session_id']}" if "session_id" in kwargs else uuid4().hex
        system = [dict(m) for m in (_plain(kwargs.get("raw_prompt")) or []) if m.get("role") == "system"]

        env = await asyncio.get_running_loop().run_in_executor(None, make_env, self.spec)
        try:
            observation, info = await asyncio.get_running_loop().run_in_executor(
                None, lambda: env.reset(seed=None if seed is None else int(seed), options=options)
            )
            recorder = EpisodeRecorder(uid, traj, include=("action", "response"))
            recorder.begin(observation, info)
            outputs: list[AgentLoopOutput] = []
            done = False
            while not done:
                output, text = await self._generate(system, info["prompt"], sampling_params)
                observation, reward, terminated, truncated, info = await asyncio.get_running_loop().run_in_executor(
                    None, env.step, text
                )
                record = recorder.record(text, observation, reward, terminated, truncated, info)
                done = bool(terminated or truncated)
                # verl's reward slot: set, so verl computes no reward of its own (its TransferQueue worker
                # copies the last step's score to every step; the per-step reward rides in extra_fields)
                output.reward_score = float(record["reward"])
                output.extra_fields.update({
                    "reward_extra_info": {},
                    "group_id": uid,
                    "traj_id": traj,
                    "step": record["step"],
                    "state_key": record["state_key"],
                    "context_keys": record.get("context_keys") or [],
                    "invalid": record["invalid"],
                    "reward": record["reward"],
                    "won": record["won"],
                    "action": record.get("action"),
                    "turn_scores": [],
                    "tool_rewards": [],
                })
                outputs.append(output)
            return outputs
        finally:
            await asyncio.get_running_loop().run_in_executor(None, env.close)

    async def _generate(
        self, system: list[dict[str, str]], prompt: str, sampling_params: dict[str, Any]
    ) -> tuple[AgentLoopOutput, str]:
        messages = [*system, {"role": "user", "content": prompt}]
        prompt_ids = await self.ct_build_initial_tokens(messages)
        result = await self.server_manager.generate(
            request_id=uuid4().hex, prompt_ids=prompt_ids, sampling_params=sampling_params
        )
        response_ids = list(result.token_ids)[: self.response_length]
        logprobs = list(result.log_probs)[: self.response_length] if result.log_probs else None
        text = self.tokenizer.decode(response_ids, skip_special_tokens=True)
        output = AgentLoopOutput(
            prompt_ids=list(prompt_ids),
            response_ids=response_ids,
            response_mask=[1] * len(response_ids),
            response_logprobs=logprobs,
            num_turns=2,
            metrics={},
            extra_fields=dict(result.extra_fields or {}),
        )
        return output, text
