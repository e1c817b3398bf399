"""How to pick tokens and when to stop, per request."""
import dataclasses
from dataclasses import dataclass, field

# What temperature, top_k and top_p mean when neither the request nor the
# model's generation_config.json sets them: plain sampling from the model.
BUILTIN_DEFAULTS = {"temperature": 1.0, "top_k": -1, "top_p": 1.0}


@dataclass
class SamplingParams:
    # None = not set by the request: the engine fills it from the model's
    # generation_config.json (Config.generation_config="auto"), else from
    # BUILTIN_DEFAULTS (see with_defaults).
    temperature: float | None = None   # 0 = greedy
    top_k: int | None = None           # -1 or 0 = no limit
    top_p: float | None = None         # nucleus mass, in (0, 1]
    max_tokens: int = 16          # new tokens at most
    stop: list[str] | str | None = None       # stop strings (not included in text)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False      # keep going past end-of-sequence (benchmarks)
    seed: int | None = None       # fixes this request's random draws
    # Log-probabilities of the model's raw distribution (log_softmax of the
    # logits, before temperature, top-k and top-p): for each generated token
    # its own and the `logprobs` most likely tokens'; for each prompt token
    # (the first has none) its own and the `prompt_logprobs` most likely.
    # None = not computed (no cost); 0 = only the chosen/prompt token's.
    logprobs: int | None = None
    prompt_logprobs: int | None = None

    def __post_init__(self):
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        self.stop = list(self.stop or [])
        self.stop_token_ids = list(self.stop_token_ids or [])
        self._check()

    def _check(self):
        def fail(field_name, why):
            raise ValueError(f"SamplingParams.{field_name}: {why}")
        if not isinstance(self.max_tokens, int) or self.max_tokens < 1:
            fail("max_tokens", f"must be an integer >= 1, got {self.max_tokens!r}")
        if self.temperature is not None and not self.temperature >= 0:
            fail("temperature", f"must be >= 0 (0 means greedy), got {self.temperature!r}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            fail("top_p", f"must be in (0, 1], got {self.top_p!r}")
        if self.top_k is not None and (not isinstance(self.top_k, int) or self.top_k < -1):
            fail("top_k", f"must be -1 (off) or a positive integer, got {self.top_k!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            fail("seed", f"must be an integer or None, got {self.seed!r}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            fail("stop", "stop strings must be non-empty strings")
        for name in ("logprobs", "prompt_logprobs"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                      or value < 0):
                fail(name, f"must be None (off) or an integer >= 0, got {value!r}")

    def with_defaults(self, defaults: dict | None = None) -> "SamplingParams":
        """A copy with every unset field (None) of temperature, top_k and top_p
        filled: from `defaults` (the model's generation config) if it has the
        field, else from BUILTIN_DEFAULTS. The request's own values win."""
        defaults = {**BUILTIN_DEFAULTS, **(defaults or {})}
        unset = {name: defaults[name] for name in BUILTIN_DEFAULTS if getattr(self, name) is None}
        return dataclasses.replace(self, **unset) if unset else self

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1
