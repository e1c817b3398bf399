"""The OpenAI wire format: request bodies, responses and the error body.

Requests are validated strictly (a string is not a number, 5.0 is not an
integer) because a lenient server hides client bugs: OpenAI itself answers
400 for a wrongly typed field, and so do we. OpenAI's options that we do not
implement (tools, response_format, logit_bias, penalties, best_of, suffix)
are refused with a 400 naming the field unless they hold their default value:
a request is never answered as if an option it set had been applied. Fields
we do not know at all are ignored.

Responses are plain dicts built by small helpers: they are written once and
sent at once, so a model class for each would add lines and no checks.
"""
import time
import uuid
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from aios.sampling_params import SamplingParams


# ----------------------------------------------------------------- errors ---
class APIError(Exception):
    """An error the client caused (or must wait out), sent as OpenAI's error body."""

    def __init__(self, status: int, message: str, param: str | None = None,
                 code: str | None = None, type: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.param, self.code, self.type = \
            status, message, param, code, type

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type,
                          "param": self.param, "code": self.code}}


def validation_error(e: ValidationError) -> APIError:
    """Turn pydantic's first complaint into one clear sentence and its field."""
    errors = e.errors()
    first = errors[0]
    # A union (prompt: str | list[int] | ...) puts the member it tried into
    # the path ("prompt", "list[int]", 0); the client only needs the field.
    path = [str(p) for p in first["loc"] if not _is_type_tag(p)]
    where = ".".join(path)
    param = path[0] if path else None
    if first["type"] == "missing":
        return APIError(400, f"Missing required parameter: '{where}'.", param)
    tried = [str(err["loc"][1]) for err in errors
             if len(err["loc"]) > 1 and err["loc"][0] == first["loc"][0] and _is_type_tag(err["loc"][1])]
    if tried:   # no member of the union fitted: list what would have
        kinds = ", ".join(dict.fromkeys(tried))
        return APIError(400, f"Invalid type for '{param}': expected one of {kinds}.", param)
    return APIError(400, f"Invalid value for '{where}': {first['msg']}.", param)


def _is_type_tag(part) -> bool:
    return isinstance(part, str) and (part in ("str", "int", "float", "bool", "dict", "list")
                                      or "[" in part)


# --------------------------------------------------------------- requests ---
class StreamOptions(BaseModel):
    include_usage: bool = False


class SamplingFields(BaseModel):
    """The fields both endpoints share."""
    model_config = ConfigDict(strict=True, extra="ignore")

    model: str
    stream: bool = False
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None           # not in OpenAI's API; vLLM has it too
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(default=1, ge=1, le=128)
    ignore_eos: bool = False           # not in OpenAI's API; for benchmarks
    # Not implemented: refused unless default (check_unsupported).
    logit_bias: dict | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    repetition_penalty: float | None = None    # vLLM's
    min_p: float | None = None                 # vLLM's

    def check_unsupported(self) -> None:
        """400 for an option we would otherwise silently ignore (see the module doc)."""
        defaults = {"logit_bias": ({},), "presence_penalty": (0,), "frequency_penalty": (0,),
                    "repetition_penalty": (1,), "min_p": (0,), **self.unsupported_defaults()}
        for name, allowed in defaults.items():
            value = getattr(self, name)
            if value is not None and value not in allowed:
                raise APIError(400, f"'{name}' is not supported by this server (got "
                                    f"{value!r}); leave it out.", name, "unsupported_parameter")

    def unsupported_defaults(self) -> dict:
        return {}

    def logprob_counts(self, max_logprobs: int) -> tuple[int | None, int | None]:
        """-> (SamplingParams.logprobs, prompt_logprobs), checked against the server's limit."""
        return None, None

    @staticmethod
    def check_logprobs_limit(name: str, value: int | None, max_logprobs: int) -> None:
        if value is not None and value < 0:
            raise APIError(400, f"Invalid value for '{name}': must be >= 0, got {value}.", name)
        if value is not None and value > max_logprobs:
            raise APIError(400, f"Invalid value for '{name}': at most {max_logprobs} "
                                f"log-probabilities per token are allowed (--max-logprobs), "
                                f"got {value}.", name)

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def sampling_params(self, max_tokens: int | None, choice: int,
                        max_logprobs: int = 20) -> SamplingParams:
        """The engine's SamplingParams for the choice-th of n samples.

        max_tokens None stays to be filled in once the prompt's length is
        known; 1 stands in for it here. temperature, top_p and top_k left
        out stay None: the engine fills them from the model's generation
        config (--generation-config).
        """
        seed = None if self.seed is None else self.seed + choice  # n seeded samples differ
        logprobs, prompt_logprobs = self.logprob_counts(max_logprobs)
        try:
            return SamplingParams(
                temperature=self.temperature, top_p=self.top_p, top_k=self.top_k,
                max_tokens=1 if max_tokens is None else max_tokens,
                stop=self.stop, seed=seed, ignore_eos=self.ignore_eos,
                logprobs=logprobs, prompt_logprobs=prompt_logprobs)
        except ValueError as e:
            # "SamplingParams.top_p: must be in (0, 1], got 0.0" -> param "top_p"
            field, _, why = str(e).partition(": ")
            param = field.removeprefix("SamplingParams.")
            if param == "max_tokens" and isinstance(self, ChatCompletionRequest) \
                    and self.max_completion_tokens is not None:
                param = "max_completion_tokens"
            raise APIError(400, f"Invalid value for '{param}': {why}.", param) from None


class CompletionRequest(SamplingFields):
    # One prompt (text or token ids) or a batch of them.
    prompt: str | list[int] | list[str] | list[list[int]]
    max_tokens: int | None = 16        # OpenAI's default for completions
    logprobs: int | None = None        # the top-N per token (and the chosen token's)
    echo: bool = False                 # the prompt first, in text and logprobs
    best_of: int | None = None         # not implemented: only best_of == n
    suffix: str | None = None          # not implemented

    def unsupported_defaults(self) -> dict:
        return {"best_of": (1, self.n), "suffix": ("",)}

    def logprob_counts(self, max_logprobs: int) -> tuple[int | None, int | None]:
        self.check_logprobs_limit("logprobs", self.logprobs, max_logprobs)
        return self.logprobs, (self.logprobs if self.echo else None)

    def prompts(self) -> list[str | list[int]]:
        p = self.prompt
        if isinstance(p, str) or (p and isinstance(p[0], int)):
            return [p]
        if not p:
            raise APIError(400, "'prompt' is empty; give a string or a list of token ids.",
                           "prompt")
        return list(p)


class ChatMessage(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    role: Literal["system", "user", "assistant"]
    # A string, or OpenAI's list of parts; only text parts are understood.
    content: str | list[dict]

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        if any(part.get("type") != "text" or not isinstance(part.get("text"), str)
               for part in self.content):
            raise APIError(400, "Only text content parts are supported "
                                "({'type': 'text', 'text': ...}).", "messages")
        return "".join(part["text"] for part in self.content)


class ChatCompletionRequest(SamplingFields):
    messages: list[ChatMessage]
    max_tokens: int | None = None      # None: as many as the context has room for
    max_completion_tokens: int | None = None   # the newer name of max_tokens
    logprobs: bool = False             # each token's log-probability...
    top_logprobs: int | None = None    # ...and this many most likely tokens
    # Not implemented: refused unless absent or "none"/text (check_unsupported).
    tools: list | None = None
    tool_choice: str | dict | None = None
    functions: list | None = None
    function_call: str | dict | None = None
    response_format: dict | None = None

    def unsupported_defaults(self) -> dict:
        return {"tools": ([],), "tool_choice": ("none",), "functions": ([],),
                "function_call": ("none",), "response_format": ({"type": "text"},)}

    def logprob_counts(self, max_logprobs: int) -> tuple[int | None, int | None]:
        if self.top_logprobs is not None and not self.logprobs:
            raise APIError(400, "'top_logprobs' needs 'logprobs': true.", "top_logprobs")
        self.check_logprobs_limit("top_logprobs", self.top_logprobs, max_logprobs)
        return (self.top_logprobs or 0) if self.logprobs else None, None

    def conversation(self) -> list[dict]:
        if not self.messages:
            raise APIError(400, "'messages' is empty; give at least one message.", "messages")
        return [{"role": m.role, "content": m.text()} for m in self.messages]

    def max_new_tokens(self) -> int | None:
        return self.max_completion_tokens if self.max_completion_tokens is not None \
            else self.max_tokens


# -------------------------------------------------------------- responses ---
def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}


def model_list(model_name: str, max_model_len: int) -> dict:
    return {"object": "list", "data": [{
        "id": model_name, "object": "model", "created": int(time.time()),
        "owned_by": "aios", "max_model_len": max_model_len}]}


def completion_choice(index: int, text: str, finish_reason: str | None,
                      logprobs: dict | None = None) -> dict:
    return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish_reason}


def chat_choice(index: int, text: str, finish_reason: str | None,
                logprobs: dict | None = None) -> dict:
    return {"index": index, "message": {"role": "assistant", "content": text},
            "logprobs": logprobs, "finish_reason": finish_reason}


def chat_delta(index: int, delta: dict, finish_reason: str | None,
               logprobs: dict | None = None) -> dict:
    return {"index": index, "delta": delta, "logprobs": logprobs, "finish_reason": finish_reason}


def envelope(kind: str, request_id: str, model: str, choices: list[dict],
             usage_: dict | None = None) -> dict:
    """The outer object of every response and stream chunk.

    kind: "text_completion", "chat.completion" or "chat.completion.chunk".
    """
    return {"id": request_id, "object": kind, "created": int(time.time()),
            "model": model, "choices": choices, "usage": usage_}
