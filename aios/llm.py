"""The user API:

    from aios import LLM, SamplingParams
    llm = LLM("Qwen/Qwen3-0.6B")
    outputs = llm.generate(["Hello, my name is"], SamplingParams(temperature=0.6))
    print(outputs[0]["text"])
"""
import time

import torch
from tqdm.auto import tqdm

from aios.engine.llm_engine import LLMEngine
from aios.sampling_params import SamplingParams


class LLM(LLMEngine):
    def generate(self, prompts, sampling_params=None, use_tqdm: bool = True) -> list[dict]:
        """Generate for a batch of prompts (strings or token-id lists).

        sampling_params: one SamplingParams for all, or one per prompt.
        Returns one dict per prompt, in order: text, token_ids, finish_reason,
        num_prompt_tokens. A prompt that is invalid does not stop the others:
        its dict has finish_reason "error" and an "error" message instead.
        With SamplingParams.logprobs, also "logprobs": one TokenLogprobs per
        token of token_ids; with prompt_logprobs, "prompt_logprobs": None for
        the first prompt token, then one TokenLogprobs each (aios/engine/logprobs.py).
        """
        if isinstance(prompts, str) or (prompts and isinstance(prompts[0], int)):
            prompts = [prompts]
        if not isinstance(sampling_params, list):
            sampling_params = [sampling_params or SamplingParams()] * len(prompts)
        if len(sampling_params) != len(prompts):
            raise ValueError(f"got {len(prompts)} prompts but {len(sampling_params)} SamplingParams")
        outputs: list[dict | None] = [None] * len(prompts)
        seqs = {}
        for i, (prompt, params) in enumerate(zip(prompts, sampling_params)):
            try:
                seqs[i] = self.add_request(prompt, params)
            except ValueError as e:
                outputs[i] = {"text": "", "token_ids": [], "finish_reason": "error",
                              "num_prompt_tokens": 0, "error": str(e)}
        self._run_until_done(len(seqs), use_tqdm)
        for i, seq in seqs.items():
            outputs[i] = {"text": self.output_text(seq), "token_ids": seq.completion_token_ids,
                          "finish_reason": seq.finish_reason,
                          "num_prompt_tokens": seq.num_prompt_tokens}
            if seq.logprobs is not None:
                outputs[i]["logprobs"] = seq.logprobs
            if seq.sampling_params.prompt_logprobs is not None:
                outputs[i]["prompt_logprobs"] = seq.prompt_logprobs
        return outputs

    def warm_up(self) -> None:
        """Compile every kernel variant before a timed run starts the clock.

        The prompts are unrelated to any workload's (a fixed seed of their own),
        so no timed request finds them in the prefix cache; the second round
        does find them, which compiles the prefill that reads a cached prefix.
        A batch of short prompts decodes with one split per sequence; a long
        prompt alone makes an eager decode split its context (the split-KV
        kernels, which a CUDA graph compiles when it is captured).
        """
        g = torch.Generator().manual_seed(12345)
        short, long = (min(n, self.config.max_model_len // 2) for n in (3 * self.config.block_size, 640))
        # A batch of up to 32 as well: an eager decode step's kernels at a batch
        # past 16 (a CUDA graph compiles its own, the skinny GEMM's, when captured).
        seats = self.config.max_num_seqs
        batches = [[short] * min(4, seats)] + ([[short] * min(32, seats)] if seats > 16 else []) + [[long]]
        batches = [[torch.randint(0, self.config.hf_config.vocab_size, (n,), generator=g).tolist()
                    for n in lengths] for lengths in batches]
        for _ in range(2):
            for prompts in batches:
                self.generate(prompts, SamplingParams(temperature=0.0, max_tokens=8), use_tqdm=False)
        # Sampling with top-k / top-p compiles kernels of its own (the thresholds,
        # the masked sampler); temperature only and greedy rows share a batch.
        mixed = [SamplingParams(temperature=0.0, max_tokens=4), SamplingParams(temperature=0.7, max_tokens=4),
                 SamplingParams(temperature=0.6, top_p=0.95, top_k=20, max_tokens=4)]
        self.generate(batches[0][:1] * 3, mixed, use_tqdm=False)

    def _run_until_done(self, num_requests: int, use_tqdm: bool) -> None:
        bar = tqdm(total=num_requests, desc="Generating", disable=not use_tqdm, dynamic_ncols=True)
        prefill_tps = decode_tps = 0.0
        while not self.is_finished():
            start = time.perf_counter()
            seqs, is_prefill = self.step()
            elapsed = time.perf_counter() - start
            if is_prefill:
                prefill_tps = sum(len(s) - s.num_cached_tokens for s in seqs) / elapsed
            elif seqs:
                decode_tps = len(seqs) / elapsed
            bar.set_postfix(prefill=f"{prefill_tps:.0f} tok/s", decode=f"{decode_tps:.0f} tok/s", refresh=False)
            bar.update(sum(s.is_finished for s in seqs))
        bar.close()

    def chat(self, messages, sampling_params=None, use_tqdm: bool = False) -> list[dict]:
        """Chat with the model's chat template.

        messages: one conversation ([{"role": "user", "content": ...}, ...])
        or a list of them. Returns one output dict per conversation.
        """
        if not messages:
            raise ValueError("no messages given; pass a conversation like [{'role': 'user', 'content': 'Hi'}]")
        conversations = [messages] if isinstance(messages[0], dict) else messages
        prompts = [self.apply_chat_template(c) for c in conversations]
        return self.generate(prompts, sampling_params, use_tqdm=use_tqdm)

    def apply_chat_template(self, conversation: list[dict]) -> list[int]:
        if self.tokenizer is None or not self.tokenizer.chat_template:
            raise ValueError("this model has no chat template; use generate() with a plain prompt")
        if not conversation:
            raise ValueError("the conversation is empty; give at least one message")
        return self.tokenizer.apply_chat_template(conversation, add_generation_prompt=True,
                                                  tokenize=True, return_dict=False)
