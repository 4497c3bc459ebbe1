"""verl's generation interface over a local Hugging Face model, for CPU smoke runs of the agent loop.

verl's agent loops call ``await server_manager.generate(request_id=..., prompt_ids=..., sampling_params=...)``
and get a ``TokenOutput`` (response token ids and their log-probabilities); in training that is a vLLM or
SGLang server on GPUs. :class:`LocalGenerationClient` answers the same call with ``model.generate`` of a
``transformers`` causal LM on the CPU (sampling with verl's ``temperature`` / ``top_p`` / ``top_k``;
``temperature=0`` is greedy), so :class:`~hgpo.integrations.verl.agent_loop.GymEnvAgentLoop` can play
whole episodes without a GPU.
"""

from __future__ import annotations

import asyncio
from typing import Any

import torch
from verl.workers.rollout.replica import TokenOutput

__all__ = ["LocalGenerationClient"]


class LocalGenerationClient:
    """``generate(request_id, prompt_ids, sampling_params) -> TokenOutput`` with a local model.

    Args:
        model: a ``transformers`` causal LM (eval mode is set).
        max_new_tokens: the response budget per call (verl's ``rollout.response_length``).
        seed: seed of the sampling generator (calls are serialised, so runs repeat exactly).
    """

    def __init__(self, model: Any, *, max_new_tokens: int = 64, seed: int = 0) -> None:
        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be at least 1, got {max_new_tokens}")
        self.model = model.eval()
        self.max_new_tokens = int(max_new_tokens)
        self.seed = int(seed)
        self.calls = 0
        self._lock = asyncio.Lock()

    def _generate(self, prompt_ids: list[int], sampling_params: dict[str, Any]) -> TokenOutput:
        temperature = float(sampling_params.get("temperature", 1.0) or 0.0)
        top_k = int(sampling_params.get("top_k", -1) or -1)
        options: dict[str, Any] = {"do_sample": temperature > 0}
        if temperature > 0:
            options.update(temperature=temperature, top_p=float(sampling_params.get("top_p", 1.0)),
                           top_k=top_k if top_k > 0 else 0)
        torch.manual_seed(self.seed + self.calls)
        self.calls += 1
        ids = torch.tensor([prompt_ids], dtype=torch.long)
        with torch.no_grad():
            out = self.model.generate(
                ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.max_new_tokens,
                output_scores=True, return_dict_in_generate=True,
                pad_token_id=self.model.config.pad_token_id, **options,
            )
        tokens = out.sequences[0, ids.shape[1]:]
        # log-probs of the chosen tokens under the sampling distribution's logits
        logprobs = [float(torch.log_softmax(s[0].float(), -1)[t]) for s, t in zip(out.scores, tokens, strict=False)]
        eos = self.model.config.eos_token_id
        stop = "completed" if (eos is not None and len(tokens) and int(tokens[-1]) == eos) else "length"
        return TokenOutput(token_ids=tokens.tolist(), log_probs=logprobs, stop_reason=stop)

    async def generate(
        self, request_id: str, *, prompt_ids: list[int], sampling_params: dict[str, Any], **_: Any
    ) -> TokenOutput:
        """verl's ``LLMServerClient.generate`` signature (multimodal arguments are ignored)."""
        async with self._lock:
            return await asyncio.get_running_loop().run_in_executor(
                None, self._generate, list(prompt_ids), dict(sampling_params)
            )
