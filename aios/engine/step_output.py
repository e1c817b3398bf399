"""What a step leaves behind: its sampled tokens (and log-probabilities), on the
device at once and on the host once read; and how the next step, under async
scheduling, reads the tokens the host does not have yet.
"""
import torch

from aios.engine.decode_inputs import to_device
from aios.engine.logprobs import LogprobPlan
from aios.engine.sequence import Sequence
from aios.utils.p2p import p2p_status_to_host, raise_if_p2p_failed


def take_pending_tokens(input_ids: torch.Tensor, pending, sampled: torch.Tensor) -> None:
    """Async scheduling: rows whose newest token is still pending read it from
    the last step's sampled tokens, on the device (the host does not have it).
    pending: from ModelRunner.pending_rows (compact: it also goes to the TP workers)."""
    if isinstance(pending, int):   # the last step's first rows: one copy
        input_ids[:pending].copy_(sampled[:pending])
    else:
        index = to_device(pending, torch.long, input_ids.device)
        input_ids[index[0]] = sampled[index[1]]


class StepOutput:
    """The tokens a step sampled: on the device at once, on the host once read.

    The copy to the host is queued behind the step; token_ids() waits for it.
    That wait is the step's one host-device sync. The log-probabilities of the
    rows that asked for them (aios/engine/logprobs.py) travel with the tokens.
    """

    def __init__(self, seqs: list[Sequence], is_prefill: bool, sampled: torch.Tensor,
                 logprobs: LogprobPlan | None = None, logits: torch.Tensor | None = None):
        self.seqs, self.is_prefill = seqs, is_prefill
        self.sampled = sampled                                    # [B] int64, on the device
        self.logprob_plan = logprobs
        device_logprobs = logprobs.compute(logits, sampled) if logprobs else {}
        self.ready = None
        self.p2p_status = p2p_status_to_host()   # None unless the P2P all-reduce runs
        if sampled.is_cuda:
            self.host = _to_host(sampled)
            self.host_logprobs = {k: tuple(_to_host(t) for t in v) for k, v in device_logprobs.items()}
            self.ready = torch.cuda.Event()
            self.ready.record()
        else:
            self.host, self.host_logprobs = sampled, device_logprobs

    def token_ids(self) -> list[int]:
        if self.ready is not None:
            self.ready.synchronize()
        raise_if_p2p_failed(self.p2p_status)
        return self.host.tolist()

    def logprobs(self, token_ids: list[int]) -> tuple[dict, dict]:
        """After token_ids(): ({row: TokenLogprobs} of the sampled tokens,
        {row: [None, TokenLogprobs, ...]} of the prompts); empty when nobody asked."""
        if self.logprob_plan is None:
            return {}, {}
        return self.logprob_plan.per_sequence(self.host_logprobs, token_ids)


def _to_host(t: torch.Tensor) -> torch.Tensor:
    """A pinned host copy of a device tensor, queued without waiting."""
    host = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
    host.copy_(t, non_blocking=True)
    return host
