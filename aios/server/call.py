"""One HTTP request being answered: its sequences, and the response they stream.

`Call` gathers what a request's sequences produce (Deltas from the AsyncEngine)
into OpenAI's shapes: whole choices, streamed chunks, usage. `EventStream` is
the server-sent-events response that aborts the sequences however it ends.
The routes that make them are in api.py.
"""
from fastapi.responses import StreamingResponse

from aios.server import logprobs as lp
from aios.server.protocol import chat_choice, chat_delta, completion_choice, envelope, usage


class EventStream(StreamingResponse):
    """Server-sent events that call on_close however the response ends.

    A client that goes away makes Starlette cancel the response (it listens
    for the disconnect while streaming), possibly before our generator has
    even started, when a finally clause inside it would never run. Here the
    finally clause runs in every case, and on_close aborts the request's
    sequences, so their KV blocks are freed on the engine's next turn.
    """

    def __init__(self, events, on_close):
        super().__init__(events, media_type="text/event-stream",
                         headers={"Cache-Control": "no-cache"})
        self.on_close = on_close

    async def __call__(self, scope, receive, send):
        try:
            await super().__call__(scope, receive, send)
        finally:
            self.on_close()


class Call:
    """One HTTP request's sequences and what they have produced so far."""

    def __init__(self, request_id, model, chat, handles, out, n, include_usage,
                 with_logprobs: bool = False, echo: bool = False):
        self.request_id, self.model, self.chat = request_id, model, chat
        self.handles, self.out, self.n = handles, out, n
        self.include_usage = include_usage
        self.with_logprobs, self.echo = with_logprobs, echo
        self.num_tokens = [0] * len(handles)
        # Streaming: each choice's echoed prompt goes out once, first; a
        # completion token's text_offset counts from the start of the choice.
        self.echo_sent = [False] * len(handles)
        self.text_offsets = [0] * len(handles)

    async def deltas(self):
        """Every Delta until all choices finish."""
        pending = len(self.handles)
        while pending:
            delta = await self.out.get()
            self.num_tokens[delta.index] = delta.num_tokens
            pending -= delta.finish_reason is not None
            yield delta

    def usage(self) -> dict:
        # The prompt is counted once per input, not once per sample of it.
        prompt = sum(h.num_prompt_tokens for h in self.handles[::self.n])
        return usage(prompt, sum(self.num_tokens))

    def chunk(self, choices: list[dict], usage_: dict | None = None) -> dict:
        kind = "chat.completion.chunk" if self.chat else "text_completion"
        return envelope(kind, self.request_id, self.model, choices, usage_)

    def choice(self, index: int, text: str, finish_reason: str | None, items: list[dict]) -> dict:
        """A whole choice (not streamed); items: its log-probability entries."""
        if self.chat:
            return chat_choice(index, text, finish_reason,
                               lp.chat_logprobs(items) if self.with_logprobs else None)
        return completion_choice(index, text, finish_reason,
                                 lp.completion_logprobs(items) if self.with_logprobs else None)

    def has_news(self, delta) -> bool:
        """Is a Delta worth a chunk: text, an end, log-probabilities or the echo to send?"""
        return bool(delta.text or delta.finish_reason or delta.logprobs or delta.prompt_logprobs
                    or (self.echo and not self.echo_sent[delta.index]))

    def stream_choice(self, delta) -> dict:
        """One Delta as a streamed choice (a chat delta or a completion choice)."""
        items = (delta.prompt_logprobs or []) + delta.logprobs
        if self.chat:
            return chat_delta(delta.index, {"content": delta.text} if delta.text else {},
                              delta.finish_reason,
                              lp.chat_logprobs(items) if self.with_logprobs else None)
        text = delta.text
        if self.echo and not self.echo_sent[delta.index]:     # the prompt first, once
            self.echo_sent[delta.index] = True
            text = self.handles[delta.index].prompt_text + text
        logprobs = None
        if self.with_logprobs:
            logprobs = lp.completion_logprobs(items, self.text_offsets[delta.index])
            self.text_offsets[delta.index] += sum(len(item["token"]) for item in items)
        return completion_choice(delta.index, text, delta.finish_reason, logprobs)
