"""Prometheus metrics, written by hand in the text exposition format.

The format is simple enough that a client library would hide more than it
saves: every sample is one line, `name{label="value"} number`, after a
`# HELP` and a `# TYPE` line. A histogram is a set of cumulative counters
(`_bucket{le="..."}`: observations <= le), plus `_sum` and `_count`.

The engine thread writes the counters and histograms; the HTTP thread reads
them for /metrics. A lock keeps each histogram's buckets, sum and count
consistent with each other in a scrape.
"""
import threading

# Latencies from 1 ms to 60 s: fine steps where serving usually lives.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.15, 0.2,
                   0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 60.0)


class Histogram:
    def __init__(self, name: str, help_text: str, buckets=LATENCY_BUCKETS):
        self.name, self.help_text, self.buckets = name, help_text, tuple(buckets)
        self.counts = [0] * len(self.buckets)   # per bucket, not yet cumulative
        self.count, self.sum = 0, 0.0
        self.lock = threading.Lock()

    def observe(self, value: float) -> None:
        with self.lock:
            self.count += 1
            self.sum += value
            for i, bound in enumerate(self.buckets):
                if value <= bound:
                    self.counts[i] += 1
                    break

    def render(self) -> list[str]:
        with self.lock:
            counts, count, total = list(self.counts), self.count, self.sum
        lines = [f"# HELP {self.name} {self.help_text}", f"# TYPE {self.name} histogram"]
        cumulative = 0
        for bound, n in zip(self.buckets, counts):
            cumulative += n
            lines.append(f'{self.name}_bucket{{le="{bound}"}} {cumulative}')
        lines += [f'{self.name}_bucket{{le="+Inf"}} {count}',
                  f"{self.name}_sum {total}", f"{self.name}_count {count}"]
        return lines


def _sample(kind: str, name: str, help_text: str, value, labels: dict | None = None) -> list[str]:
    """One metric with one sample (or one sample per label value)."""
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    if labels is None:
        return lines + [f"{name} {value}"]
    key = next(iter(labels))
    return lines + [f'{name}{{{key}="{v}"}} {n}' for v, n in sorted(labels[key].items())]


class ServerMetrics:
    """Everything /metrics reports that is not read straight from the engine."""

    def __init__(self):
        self.ttft = Histogram("aios_time_to_first_token_seconds",
                              "Time from a request's arrival to its first generated token.")
        self.itl = Histogram("aios_inter_token_latency_seconds",
                             "Time between two consecutive tokens of one request.")
        self.e2e = Histogram("aios_e2e_request_latency_seconds",
                             "Time from a request's arrival to its last token.")
        self.prompt_tokens = 0
        self.finished: dict[str, int] = {}     # finish_reason -> requests

    def request_finished(self, reason: str) -> None:
        self.finished[reason] = self.finished.get(reason, 0) + 1

    def render(self, stats: dict) -> str:
        """The whole /metrics page; stats is AsyncEngine.stats()."""
        used = 1 - stats["num_free_blocks"] / max(stats["num_blocks"], 1)
        lines = []
        lines += _sample("gauge", "aios_num_requests_running",
                         "Sequences in the running batch.", stats["num_running"])
        lines += _sample("gauge", "aios_num_requests_waiting",
                         "Sequences waiting to be scheduled.", stats["num_waiting"])
        lines += _sample("gauge", "aios_kv_cache_usage_ratio",
                         "Share of KV-cache blocks in use (0 to 1).", round(used, 6))
        lines += _sample("counter", "aios_generation_tokens_total",
                         "Tokens generated since the server started.",
                         stats["num_generated_tokens"])
        lines += _sample("counter", "aios_prompt_tokens_total",
                         "Prompt tokens of accepted requests.", self.prompt_tokens)
        lines += _sample("counter", "aios_num_preemptions_total",
                         "Sequences preempted because the KV cache was full.",
                         stats["num_preemptions"])
        lines += _sample("counter", "aios_request_success_total",
                         "Finished sequences, by finish reason.", None,
                         {"finish_reason": dict(self.finished)})
        for histogram in (self.ttft, self.itl, self.e2e):
            lines += histogram.render()
        return "\n".join(lines) + "\n"
