"""Helpers of the TRL integration tests: generation that writes the action format, fixed step records.

A randomly initialised model never writes ``<action>...</action>``, so every step would be invalid and
every advantage zero. :func:`action_bias` is a ``sequence_bias`` for transformers' generation (passed as
TRL's ``generation_kwargs``) under which the tiny model writes well-formed answers about half the time.
"""

from __future__ import annotations

from typing import Any

COMMANDS = ("go east", "go west", "look")


def action_bias(tokenizer: Any, commands: tuple[str, ...] = COMMANDS, *, start: float = 8.0,
                step: float = 12.0) -> list[list[Any]]:
    """``generation_kwargs={"sequence_bias": ...}`` that steer a random model towards ``<action>CMD</action>``.

    Each token of each answer gets ``step`` added to its logit when the whole answer prefix precedes it
    (``start`` for the first token); at temperature 1 about half the answers come out well formed, so
    validity, rewards and advantages vary. The list form of transformers' ``sequence_bias`` (JSON-safe).
    """
    bias: dict[tuple[int, ...], float] = {}
    for command in commands:
        ids = tokenizer(f"<action>{command}</action>")["input_ids"] + [tokenizer.eos_token_id]
        bias[(ids[0],)] = start
        for i in range(1, len(ids)):
            bias[tuple(ids[: i + 1])] = step
    return [[list(key), value] for key, value in bias.items()]


GOOD, BAD = "<action>go east</action>", "MY 123 QUIZ? ZAP 789 FLUB"


def scripted_records(tokenizer: Any, env_id: str, *, n_groups: int = 2, group_size: int = 4, seed: int = 0,
                     max_steps: int = 3) -> list[dict[str, Any]]:
    """Real step records of ``env_id``: even members of each group always answer :data:`GOOD` (a
    well-formed ``go east``), odd members :data:`BAD` (unparsable, no character in common with GOOD); each step carries the
    tokenised prompt and answer as its payload (what the trainer reads)."""
    from wrappers import Decision, collect_groups

    def policy(prompts: list[str], infos: list[dict[str, Any]]) -> list[Decision]:
        out = []
        for prompt, info in zip(prompts, infos, strict=True):
            member = int(str(info["episode"]).rsplit("-", 1)[1])
            text = GOOD if member % 2 == 0 else BAD
            prompt_ids = tokenizer(prompt)["input_ids"][-96:]
            completion_ids = tokenizer(text)["input_ids"] + [tokenizer.eos_token_id]
            out.append(Decision(text, {"prompt_ids": prompt_ids, "completion_ids": completion_ids, "logprobs": None}))
        return out

    return collect_groups(env_id, policy, n_groups, group_size, seed=seed, parse_actions=True, max_steps=max_steps,
                          include=("action", "response"), progress=False)
