"""``LMPolicy``: a causal LM as an agent policy: batched sampling, and per-token log-probabilities.

Shapes: a batch of ``B`` prompts; ``P`` prompt tokens and ``T`` response tokens after padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["LMPolicy", "Sample", "resolve_device", "resolve_dtype"]


def resolve_device(device: str) -> torch.device:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    if dtype == "auto":
        return torch.bfloat16 if device.type == "cuda" and torch.cuda.is_bf16_supported() else torch.float32
    try:
        return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[dtype]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (auto, float32, bfloat16, float16)") from None


@dataclass
class Sample:
    """One sampled response: the prompt and response token ids (lists of int) and the decoded text."""

    prompt_ids: list[int]
    response_ids: list[int]
    text: str


class LMPolicy:
    """Wraps a Hugging Face causal LM and its tokenizer.

    Prompts go through the tokenizer's chat template when it has one (instruction-tuned models such as
    Qwen2.5-Instruct), else they are used as plain text. Long prompts keep their last ``max_prompt_tokens``
    tokens (the current observation and admissible actions are at the end).
    """

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_prompt_tokens: int = 2048,
        max_new_tokens: int = 256,
        temperature: float = 1.0,
        top_p: float = 1.0,
    ) -> None:
        self.model, self.tokenizer = model, tokenizer
        self.max_prompt_tokens, self.max_new_tokens = max_prompt_tokens, max_new_tokens
        self.temperature, self.top_p = temperature, top_p
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_id = tokenizer.pad_token_id
        self.eos_id = tokenizer.eos_token_id

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def encode_prompt(self, prompt: str) -> list[int]:
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
            )
            if isinstance(ids, dict) or hasattr(ids, "keys"):
                ids = ids["input_ids"]
        else:
            ids = self.tokenizer(prompt + "\n", add_special_tokens=False)["input_ids"]
        return list(ids)[-self.max_prompt_tokens :]

    @torch.no_grad()
    def sample(self, prompts: Sequence[str], *, greedy: bool = False) -> list[Sample]:
        """Sample one response per prompt (greedy decoding with ``greedy``)."""
        encoded = [self.encode_prompt(p) for p in prompts]
        width = max(len(ids) for ids in encoded)
        # left padding so that every prompt ends where generation starts
        input_ids = torch.full((len(encoded), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, ids in enumerate(encoded):
            input_ids[i, width - len(ids) :] = torch.tensor(ids)
            attention[i, width - len(ids) :] = 1
        self.model.eval()
        kwargs: dict[str, Any] = {"max_new_tokens": self.max_new_tokens, "pad_token_id": self.pad_id}
        if greedy:
            kwargs["do_sample"] = False
        else:
            kwargs.update(do_sample=True, temperature=self.temperature, top_p=self.top_p, top_k=0)
        out = self.model.generate(
            input_ids=input_ids.to(self.device), attention_mask=attention.to(self.device), **kwargs
        )
        samples = []
        for i, ids in enumerate(encoded):
            response = out[i, width:].tolist()
            if self.eos_id in response:  # keep the EOS token: its probability is part of the action
                response = response[: response.index(self.eos_id) + 1]
            while response and response[-1] == self.pad_id and self.pad_id != self.eos_id:
                response.pop()
            text = self.tokenizer.decode(response, skip_special_tokens=True)
            samples.append(Sample(ids, response, text))
        return samples

    def token_logprobs(
        self, prompt_ids: Sequence[list[int]], response_ids: Sequence[list[int]], *, with_entropy: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Log-probabilities of the response tokens given their prompts.

        Returns ``(logprob, mask, entropy)``: ``(B, T)`` log-probabilities, the ``(B, T)`` float mask of real
        response tokens, and the ``(B, T)`` entropy of each position's distribution (or None). Gradients flow
        when called outside ``torch.no_grad``.
        """
        lengths = [len(p) + len(r) for p, r in zip(prompt_ids, response_ids, strict=True)]
        width = max(lengths)
        t_max = max(1, max(len(r) for r in response_ids))
        # left padding: every response ends at the right edge, so only the last t_max + 1 positions need
        # logits (a (B, T, V) slice instead of (B, P + T, V): what makes large vocabularies affordable)
        ids = torch.full((len(lengths), width), self.pad_id, dtype=torch.long)
        attention = torch.zeros((len(lengths), width), dtype=torch.long)
        for i, (p, r) in enumerate(zip(prompt_ids, response_ids, strict=True)):
            seq = p + r
            ids[i, width - len(seq) :] = torch.tensor(seq)
            attention[i, width - len(seq) :] = 1
        positions = (attention.cumsum(-1) - 1).clamp_min(0)  # as generate() numbers left-padded prompts
        ids, attention, positions = ids.to(self.device), attention.to(self.device), positions.to(self.device)
        keep = min(t_max + 1, width)
        logits = self.model(
            input_ids=ids, attention_mask=attention, position_ids=positions, logits_to_keep=keep
        ).logits.float()
        log_probs = torch.log_softmax(logits[:, :-1], dim=-1)  # (B, keep - 1, V): predicts the last keep-1 tokens
        targets = ids[:, width - keep + 1 :]
        token_lp = log_probs.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        logprob = torch.zeros((len(lengths), t_max), device=self.device)
        mask = torch.zeros((len(lengths), t_max), device=self.device)
        entropy = torch.zeros((len(lengths), t_max), device=self.device) if with_entropy else None
        span = keep - 1
        for i, r in enumerate(response_ids):
            if not r:
                continue
            cols = slice(span - len(r), span)  # the last len(r) predicted tokens are the response
            logprob[i, : len(r)] = token_lp[i, cols]
            mask[i, : len(r)] = 1.0
            if entropy is not None:
                lp = log_probs[i, cols]
                entropy[i, : len(r)] = -(lp.exp() * lp).sum(-1)
        return logprob, mask, entropy
