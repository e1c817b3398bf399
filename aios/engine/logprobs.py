"""Log-probabilities, for the requests that ask for them and no others.

What they are: log_softmax of the model's raw logits, before temperature,
top-k and top-p (vLLM's default, "raw_logprobs"). They describe the model,
not the sampler: a greedy request gets the same numbers as a sampled one.

What they cost: the model runner knows at prepare time which rows ask (a
request's SamplingParams.logprobs / prompt_logprobs), so log_softmax and top-k
run on those rows only, on the device, right after sampling. Their results are
copied to the host with the step's sampled tokens (StepOutput), so the step's
one host-device sync covers them too. A step where nobody asks does nothing
more than before.

Prompt log-probabilities need the logits of every prompt position, not only
the last: the prefill asks the LM head for those extra rows (Context.logit_rows,
after each sequence's last row), and a cached prefix is recomputed for such a
request (Sequence.prefill_start). Those logits ([prompt tokens, vocab]) exist
all at once; the memory profile (kv_budget.profile_run) does not reserve
room for them, so a very long prompt with prompt_logprobs on a nearly full GPU
can run out of memory. log_softmax/top-k then go ROWS_PER_CHUNK rows at a time.
"""
from dataclasses import dataclass

import torch

from aios.engine.decode_inputs import to_device

ROWS_PER_CHUNK = 1024   # prompt rows are log-softmaxed this many at a time (memory)


@dataclass
class TokenLogprobs:
    """One token's log-probability and the k most likely tokens at its position."""
    token_id: int
    logprob: float
    top: list[tuple[int, float]]    # (token id, log-probability), most likely first


def top_logprobs(logits: torch.Tensor, token_ids: torch.Tensor, k: int):
    """logits [R, V], token_ids [R] -> (chosen [R], top values [R, k], top ids [R, k]).

    The log-probability of each row's token and its k most likely tokens, in float32.
    """
    chosen, values, ids = [], [], []
    for start in range(0, logits.shape[0], ROWS_PER_CHUNK):
        lp = logits[start:start + ROWS_PER_CHUNK].float().log_softmax(dim=-1)
        chosen.append(lp.gather(1, token_ids[start:start + ROWS_PER_CHUNK, None])[:, 0])
        top = lp.topk(k, dim=-1)
        values.append(top.values)
        ids.append(top.indices)
    return torch.cat(chosen), torch.cat(values), torch.cat(ids)


def prompt_logit_rows(seqs, cu_seqlens_q: list[int]) -> list[int]:
    """The packed rows (positions 0..P-2) of each sequence whose prompt
    log-probabilities are wanted: the logits there predict prompt tokens 1..P-1."""
    rows = []
    for seq, start in zip(seqs, cu_seqlens_q):
        if seq.wants_prompt_logprobs:
            rows += range(start, start + seq.num_prompt_tokens - 1)
    return rows


class LogprobPlan:
    """Which rows of one step's logits need log-probabilities, and how many top ones.

    Logits rows: [0, B) one per sequence (the sampled ones), then, in a
    prefill, the prompt rows of the sequences that want them (prompt_logit_rows).
    """

    def __init__(self, seqs, is_prefill: bool, device: torch.device):
        self.seqs = seqs
        self.token_rows = [i for i, s in enumerate(seqs) if s.sampling_params.logprobs is not None]
        self.token_k = max((seqs[i].sampling_params.logprobs for i in self.token_rows), default=0)
        self.prompt_rows = [i for i, s in enumerate(seqs) if is_prefill and s.wants_prompt_logprobs]
        self.prompt_k = max((seqs[i].sampling_params.prompt_logprobs for i in self.prompt_rows),
                            default=0)
        targets = [t for i in self.prompt_rows for t in seqs[i].prompt_token_ids[1:]]
        self.token_rows_t = _long(self.token_rows, device)
        self.prompt_targets = _long(targets, device)

    @classmethod
    def of(cls, seqs, is_prefill: bool, device: torch.device) -> "LogprobPlan | None":
        """None when no sequence of the step asks: then nothing is computed."""
        asks = any(s.sampling_params.logprobs is not None or (is_prefill and s.wants_prompt_logprobs)
                   for s in seqs)
        return cls(seqs, is_prefill, device) if asks else None

    def compute(self, logits: torch.Tensor, sampled: torch.Tensor) -> dict:
        """On the device, no sync: {"token"/"prompt": (chosen, top values, top ids)}."""
        out = {}
        if self.token_rows:
            rows = self.token_rows_t
            out["token"] = top_logprobs(logits[rows], sampled[rows], self.token_k)
        if self.prompt_rows:
            out["prompt"] = top_logprobs(logits[len(self.seqs):], self.prompt_targets, self.prompt_k)
        return out

    def per_sequence(self, host: dict, token_ids: list[int]) -> tuple[dict, dict]:
        """The host copies of compute()'s tensors and the sampled tokens ->
        ({row: TokenLogprobs} of the sampled tokens, {row: [None, TokenLogprobs,
        ...]} of the prompts)."""
        tokens, prompts = {}, {}
        if "token" in host:
            chosen, values, ids = (t.tolist() for t in host["token"])
            for j, row in enumerate(self.token_rows):
                k = self.seqs[row].sampling_params.logprobs
                token_id = token_ids[row]
                tokens[row] = TokenLogprobs(token_id, chosen[j], list(zip(ids[j][:k], values[j][:k])))
        if "prompt" in host:
            chosen, values, ids = (t.tolist() for t in host["prompt"])
            at = 0
            for row in self.prompt_rows:
                seq = self.seqs[row]
                k = seq.sampling_params.prompt_logprobs
                entries = [None]
                for token_id in seq.prompt_token_ids[1:]:
                    entries.append(TokenLogprobs(token_id, chosen[at],
                                                 list(zip(ids[at][:k], values[at][:k]))))
                    at += 1
                prompts[row] = entries
        return tokens, prompts


def _long(values: list[int], device: torch.device) -> torch.Tensor:
    return to_device(values, torch.long, device)
