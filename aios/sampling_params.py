"""How to pick tokens and when to stop, per request."""
from dataclasses import dataclass, field


@dataclass
class SamplingParams:
    temperature: float = 1.0      # 0 = greedy
    top_k: int = -1               # -1 or 0 = no limit
    top_p: float = 1.0            # nucleus mass, in (0, 1]
    max_tokens: int = 16          # new tokens at most
    stop: list[str] | str | None = None       # stop strings (not included in text)
    stop_token_ids: list[int] = field(default_factory=list)
    ignore_eos: bool = False      # keep going past end-of-sequence (benchmarks)
    seed: int | None = None       # fixes this request's random draws

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
        if not self.temperature >= 0:
            fail("temperature", f"must be >= 0 (0 means greedy), got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            fail("top_p", f"must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < -1:
            fail("top_k", f"must be -1 (off) or a positive integer, got {self.top_k!r}")
        if self.seed is not None and not isinstance(self.seed, int):
            fail("seed", f"must be an integer or None, got {self.seed!r}")
        if any(not isinstance(s, str) or not s for s in self.stop):
            fail("stop", "stop strings must be non-empty strings")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0 or self.top_k == 1
