"""Which Triton kernels compiled while the clock was running?

Triton compiles one variant of a kernel per set of argument properties it
specialises on (dtypes, an integer being 1 or a multiple of 16, pointer
alignment, constexprs). A variant first met inside a timed run costs a
compile (up to a second or two) that the measurement then counts as work:

    with TritonCompiles() as compiles:
        llm.generate(...)                    # the timed run
    if compiles.names:
        print(compiles.summary())            # e.g. "2 variants: _prefill_kernel, ..."

Without Triton (or a Triton too old for the hook) it records nothing.
"""
from collections import Counter


def _runtime_knobs():
    try:
        from triton import knobs
        return knobs.runtime if hasattr(knobs.runtime, "jit_cache_hook") else None
    except ImportError:
        return None


class TritonCompiles:
    """A context manager that notes every kernel variant Triton builds inside it."""

    def __init__(self):
        self.names: list[str] = []
        self._knobs = _runtime_knobs()
        self._previous = None

    def _hook(self, *, fn, **kwargs):
        self.names.append(fn.name)
        # Another hook set before ours still runs: it may skip the compile (returns True).
        return self._previous(fn=fn, **kwargs) if self._previous else None

    def __enter__(self) -> "TritonCompiles":
        if self._knobs is not None:
            self._previous = self._knobs.jit_cache_hook
            self._knobs.jit_cache_hook = self._hook
        return self

    def __exit__(self, *exc) -> None:
        if self._knobs is not None:
            self._knobs.jit_cache_hook = self._previous

    def summary(self) -> str:
        counts = Counter(self.names)
        listed = ", ".join(f"{name} x{n}" if n > 1 else name for name, n in counts.most_common())
        return f"{len(self.names)} Triton kernel variant(s) compiled inside the timed run: {listed}"
