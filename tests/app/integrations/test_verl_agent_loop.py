"""The verl agent loop plays whole episodes against a real (tiny, local) model; its samples feed the advantages.

Built from verl's own classes (``AgentLoopBase`` and its Continuous Token builder, ``DictConfigWrap``,
``AgentLoopOutput``, ``DataProto``); the generation interface verl's loops call (``server_manager.generate``)
is answered by ``LocalGenerationClient`` with the tiny Llama-style model on the CPU. Runs in the verl
virtualenv (``make test-verl``).
"""

from __future__ import annotations

import asyncio
import importlib.util
import os

import numpy as np
import pytest

from tests.extras import require
from tests.wrappers.textgame import ENV_ID

if os.environ.get("HGPO_TEST_VENV") != "verl" and importlib.util.find_spec("verl") is None:
    pytest.skip("verl runs in its own virtualenv: make test-verl", allow_module_level=True)

torch = require("torch", extra="verl")
require("verl", extra="verl")

from omegaconf import OmegaConf  # after the gate: a dependency of verl
from transformers import AutoModelForCausalLM, AutoTokenizer
from verl import DataProto
from verl.experimental.agent_loop.agent_loop import DictConfigWrap, _agent_loop_registry

from hgpo.integrations.verl import advantage as va
from hgpo.integrations.verl.agent_loop import AGENT_NAME, GymEnvAgentLoop, env_spec_from_config
from hgpo.integrations.verl.local_generation import LocalGenerationClient
from hgpo.trainer.tiny import make_tiny_model
from hgpo_algo import compute_advantages

RESPONSE_LENGTH = 24
CHAT = ("{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}<assistant>{% endif %}")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    path = make_tiny_model(tmp_path_factory.mktemp("tiny") / "model", seed=0)
    tokenizer = AutoTokenizer.from_pretrained(path)
    tokenizer.chat_template = CHAT  # Qwen ships one; the byte tokenizer has none
    return tokenizer, AutoModelForCausalLM.from_pretrained(path)


def trainer_config(max_steps=4, **env):
    return OmegaConf.create({
        "actor_rollout_ref": {"rollout": {"prompt_length": 4096, "response_length": RESPONSE_LENGTH}},
        "hgpo": {"env": {"env_id": ENV_ID, "max_steps": max_steps, **env}},
    })


CORRIDOR_TASK = {"treasure": 2}


async def play(tiny, config, *, uid="u0", session=0, seed=0, options=CORRIDOR_TASK, temperature=1.0, client=None):
    tokenizer, model = tiny
    loop = GymEnvAgentLoop(
        trainer_config=DictConfigWrap(config),
        server_manager=client or LocalGenerationClient(model, max_new_tokens=RESPONSE_LENGTH, seed=seed),
        tokenizer=tokenizer, processor=None, dataset_cls=None,
        data_config=DictConfigWrap(OmegaConf.create({})), hf_model_type="llama",
    )
    params = {"temperature": temperature, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "logprobs": True}
    return await loop.run(params, uid=uid, session_id=session, raw_prompt=[{"role": "system", "content": "Play."}],
                          extra_info={"seed": seed, "options": options})


def test_registered_in_verls_agent_loop_registry():
    assert _agent_loop_registry[AGENT_NAME]["_target_"].endswith("agent_loop.GymEnvAgentLoop")


def test_one_sample_per_step_with_memory_window_prompts(tiny):
    tokenizer, _ = tiny
    outputs = asyncio.run(play(tiny, trainer_config(max_steps=5)))
    assert len(outputs) == 5  # the random model never wins: the episode runs to the step limit
    fields = [o.extra_fields for o in outputs]
    assert [f["step"] for f in fields] == list(range(5))
    assert {f["traj_id"] for f in fields} == {"u0_0"} and {f["group_id"] for f in fields} == {"u0"}
    assert [len(f["context_keys"]) for f in fields] == [0, 1, 2, 2, 2]
    for t, out in enumerate(outputs):
        prompt = tokenizer.decode(out.prompt_ids)
        assert prompt.startswith("<system>Play.\n<user>") and prompt.endswith("<assistant>")
        assert ("The last 2 observation(s)" in prompt) == (t >= 2)
        assert 0 < len(out.response_ids) <= RESPONSE_LENGTH and out.response_mask == [1] * len(out.response_ids)
        assert len(out.response_logprobs) == len(out.response_ids)
        assert all(lp <= 0 for lp in out.response_logprobs)
        # the step's invalid flag is the parser's verdict on the decoded response
        text = tokenizer.decode(out.response_ids, skip_special_tokens=True)
        assert fields[t]["invalid"] == ("<action>" not in text or "</action>" not in text)
        assert fields[t]["context_keys"] == [f["state_key"] for f in fields[max(0, t - 2):t]]


class ScriptedModel:
    """The tiny model, forced to answer with given text (its sampled tokens are replaced): wins episodes."""

    def __init__(self, tokenizer, client, answers):
        self.tokenizer, self.client, self.answers = tokenizer, client, list(answers)

    async def generate(self, request_id, *, prompt_ids, sampling_params, **kw):
        out = await self.client.generate(request_id, prompt_ids=prompt_ids, sampling_params=sampling_params)
        ids = self.tokenizer.encode(self.answers.pop(0), add_special_tokens=False)
        return out.model_copy(update={"token_ids": ids, "log_probs": [0.0] * len(ids)})


def test_winning_episode_ends_on_the_reward(tiny):
    tokenizer, model = tiny
    client = ScriptedModel(tokenizer, LocalGenerationClient(model, max_new_tokens=4),
                           ["<action>look</action>", "<action>go east</action>", "<action>go east</action>"])
    outputs = asyncio.run(play(tiny, trainer_config(max_steps=10), options={"treasure": 2}, client=client))
    assert [o.extra_fields["reward"] for o in outputs] == [0.0, 0.0, 1.0]
    assert outputs[-1].extra_fields["won"] and not any(o.extra_fields["invalid"] for o in outputs)


def test_greedy_runs_repeat(tiny):
    a = asyncio.run(play(tiny, trainer_config(max_steps=2), temperature=0.0))
    b = asyncio.run(play(tiny, trainer_config(max_steps=2), temperature=0.0))
    assert [o.response_ids for o in a] == [o.response_ids for o in b]


def to_dataproto(outputs) -> DataProto:
    """Stack per-step samples as verl's agent-loop postprocessing does: right-padded responses and
    masks; every extra field a ``non_tensor_batch`` object column."""
    n = len(outputs)
    responses = torch.zeros(n, RESPONSE_LENGTH, dtype=torch.long)
    mask = torch.zeros(n, RESPONSE_LENGTH, dtype=torch.long)
    for i, o in enumerate(outputs):
        d = o.as_dict()
        responses[i, : len(d["responses"])] = d["responses"]
        mask[i, : len(d["response_mask"])] = d["response_mask"]
    non_tensors = {}
    for key in outputs[0].extra_fields:
        col = np.empty(n, dtype=object)
        col[:] = [o.extra_fields[key] for o in outputs]
        non_tensors[key] = col
    rewards = torch.zeros(n, RESPONSE_LENGTH)
    return DataProto.from_dict(tensors={"responses": responses, "response_mask": mask, "token_level_rewards": rewards},
                               non_tensors=non_tensors)


def test_groups_of_episodes_feed_the_advantage_function(tiny):
    """2 tasks x 3 rollouts through the loop; the DataProto advantages equal compute_advantages."""
    async def collect():
        outs = []
        for g in range(2):
            for m in range(3):
                outs += await play(tiny, trainer_config(max_steps=3), uid=f"task{g}", session=m, seed=10 * g + m,
                                   options={"treasure": 1 + g})
        return outs

    outputs = asyncio.run(collect())
    data = to_dataproto(outputs)
    va.compute_advantage(data, "hgpo", K=2)
    records = [{k: o.extra_fields[k] for k in ("group_id", "traj_id", "step", "state_key", "reward", "invalid",
                                               "context_keys")} for o in outputs]
    want = compute_advantages(records, "hgpo", K=2).advantages
    m = data.batch["response_mask"].float()
    torch.testing.assert_close(data.batch["advantages"], torch.tensor(want).float().unsqueeze(-1) * m)


def test_bad_env_config_is_named():
    with pytest.raises(ValueError, match=r"hgpo\.env\.env_id"):
        env_spec_from_config(None)
    with pytest.raises(ValueError, match=r"unknown hgpo\.env key"):
        env_spec_from_config({"env_id": ENV_ID, "max_step": 3})


def test_v1_trainer_fields_feed_the_advantage_function(tiny):
    """The v1 path: samples stored as verl's TransferQueue worker stores them (``as_dict`` plus the
    dataset fields, stacked by ``list_of_dict_to_tensordict``), read back as StepAdvantageMixin reads
    them, give compute_advantages' advantages."""
    from verl.trainer.ppo.v1 import get_trainer_cls
    from verl.utils.tensordict_utils import list_of_dict_to_tensordict

    from hgpo.integrations.verl import v1

    async def collect():
        outs = []
        for g in range(2):
            for m in range(2):
                outs += await play(tiny, trainer_config(max_steps=3), uid=f"task{g}", session=m, seed=g + 5 * m)
        return outs

    outputs = asyncio.run(collect())
    stored = []
    for o in outputs:
        field = o.as_dict()
        field.update({"uid": o.extra_fields["group_id"], "session_id": 0})
        stored.append(field)
    data = list_of_dict_to_tensordict(stored).select(*v1.STEP_FIELDS)
    proto = v1.dataproto_from_fields(data)
    config = OmegaConf.create({"algorithm": {"gamma": 0.9}, "hgpo": {"estimator_options": {"K": 2, "alpha": 0.5}}})
    assert v1.estimator_options(config) == {"gamma": 0.9, "K": 2, "alpha": 0.5}
    va.compute_advantage(proto, "hgpo", **v1.estimator_options(config))
    records = [{k: o.extra_fields[k] for k in ("group_id", "traj_id", "step", "state_key", "reward", "invalid",
                                               "context_keys")} for o in outputs]
    want = compute_advantages(records, "hgpo", gamma=0.9, K=2, alpha=0.5)
    m = proto.batch["response_mask"].float()
    torch.testing.assert_close(proto.batch["advantages"], torch.tensor(want.advantages).float().unsqueeze(-1) * m)
    torch.testing.assert_close(proto.batch["returns"], torch.tensor(want.returns).float().unsqueeze(-1) * m)
    # the per-step rewards ride in extra_fields; verl's rm_scores hold one score per sample
    assert proto.non_tensor_batch["reward"].tolist() == [r["reward"] for r in records]
    for mode, cls in (("hgpo_sync", v1.HGPOTrainerSync), ("hgpo_colocate_async", v1.HGPOTrainerColocateAsync),
                      ("hgpo_separate_async", v1.HGPOTrainerSeparateAsync)):
        assert get_trainer_cls(mode) is cls and issubclass(cls, v1.StepAdvantageMixin)
    with pytest.raises(ValueError, match="lack extra_fields"):
        v1.dataproto_from_fields(data.exclude("extra_fields"))


def test_webshop_episode_through_the_agent_loop(tiny):
    """hgpo/WebShop-v0 (embedded server) through the loop: the answers are the scripted oracle's actions,
    found by playing the same task beforehand; the purchase ends the episode with the WebShop score."""
    require("flask", extra="webshop")
    import gymnasium as gym

    probe = gym.make("hgpo/WebShop-v0")
    _, info = probe.reset(seed=3)
    answers, done, score = [], False, 0.0
    while not done:
        answers.append(f"<think>buy</think><action>{info['expert_action']}</action>")
        _, score, terminated, truncated, info = probe.step(info["expert_action"])
        done = terminated or truncated
    probe.close()

    tokenizer, model = tiny
    client = ScriptedModel(tokenizer, LocalGenerationClient(model, max_new_tokens=2), answers)
    config = OmegaConf.create({
        "actor_rollout_ref": {"rollout": {"prompt_length": 16384, "response_length": 256}},
        "hgpo": {"env": {"env_id": "hgpo/WebShop-v0", "max_steps": 15}},
    })
    outputs = asyncio.run(play(tiny, config, seed=3, options=None, client=client))
    assert len(outputs) == len(answers) and score > 0
    assert outputs[-1].extra_fields["reward"] == pytest.approx(score)
    assert not any(o.extra_fields["invalid"] for o in outputs)
    assert "search" in tokenizer.decode(outputs[0].prompt_ids).lower()
