"""Log-probabilities in OpenAI's two shapes.

The engine gives TokenLogprobs (token ids, aios/engine/logprobs.py). The
engine thread, which owns the tokenizer, turns them into entries with text
(`entries`, `prompt_entries`); the HTTP side formats those:

  completions  {"tokens": [str], "token_logprobs": [float|None],
                "top_logprobs": [{str: float}|None], "text_offset": [int]}
  chat         {"content": [{"token", "logprob", "bytes",
                             "top_logprobs": [{"token", "logprob", "bytes"}]}]}

An entry: {"token": str, "logprob": float | None, "top": [(str, float)] | None}.
"""
# JSON has no -inf; OpenAI writes this for a token of zero probability.
FLOOR = -9999.0


def _token_text(tokenizer, token_id: int) -> str:
    # A model without a tokenizer streams each token as "<id>" (TokenIdDetokenizer).
    return tokenizer.decode([token_id]) if tokenizer is not None else f"<{token_id}>"


def _logprob(value: float) -> float:
    return max(value, FLOOR)


def entries(tokenizer, token_logprobs: list) -> list[dict]:
    """TokenLogprobs of generated tokens -> entries with text."""
    return [{"token": _token_text(tokenizer, e.token_id), "logprob": _logprob(e.logprob),
             "top": [(_token_text(tokenizer, t), _logprob(lp)) for t, lp in e.top]}
            for e in token_logprobs]


def prompt_entries(tokenizer, prompt_token_ids: list[int], prompt_logprobs: list) -> list[dict]:
    """A prompt's [None, TokenLogprobs...] -> entries; the first token has no logprob."""
    first = {"token": _token_text(tokenizer, prompt_token_ids[0]), "logprob": None, "top": None}
    return [first] + entries(tokenizer, prompt_logprobs[1:])


def completion_logprobs(items: list[dict], text_offset: int = 0) -> dict:
    """Completions' shape; text_offset: where the first token starts in the choice's text."""
    offsets = []
    for item in items:
        offsets.append(text_offset)
        text_offset += len(item["token"])
    return {"tokens": [item["token"] for item in items],
            "token_logprobs": [item["logprob"] for item in items],
            "top_logprobs": [None if item["top"] is None else dict(item["top"]) for item in items],
            "text_offset": offsets}


def _chat_token(token: str, logprob: float) -> dict:
    return {"token": token, "logprob": logprob, "bytes": list(token.encode("utf-8"))}


def chat_logprobs(items: list[dict]) -> dict:
    """Chat's shape."""
    return {"content": [{**_chat_token(item["token"], item["logprob"]),
                         "top_logprobs": [_chat_token(t, lp) for t, lp in item["top"]]}
                        for item in items]}
