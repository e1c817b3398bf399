"""Lesson 15: serving. Your exercise.

An OpenAI-compatible server streams each request's text as it is generated:
server-sent events (SSE), one `data: {...}` line (and a blank line) per chunk,
ending with `data: [DONE]`. README.md ("The exercise") walks through the
three pieces. While your code runs they replace the engine's own
(aios/server/api.py, call.py), in the server process that aios/course/serve.py starts:

    Delta                 .index (the choice), .text (new text), .num_tokens,
                          .finish_reason (None while running; "stop", "length", "abort", "error")
    call.chat             True for /v1/chat/completions, False for /v1/completions
    call.handles          one per choice: h.index
    call.deltas()         async: every Delta until all choices finish
    call.chunk(choices, usage=None)   the chunk envelope (id, object, created, model, choices)
    call.stream_choice(delta)         your step 2
    call.include_usage, call.usage()  the usage chunk, when the client asked for it

Check:  python -m pytest lessons/lesson15        (a real server on a loopback port)
Run:    python lessons/lesson15/run_lesson15.py
"""
import json  # noqa: F401

from aios.server.protocol import APIError, chat_delta, completion_choice  # noqa: F401


def sse(payload) -> str:
    """Step 1. One server-sent event: f"data: {data}\\n\\n".

    payload is a dict (JSON it compactly: separators=(",", ":")) or a str, sent as it is
    (the final "[DONE]").
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 15, step 1: sse() is yours to write "
                              "— see lessons/lesson15/README.md, or run with --solution")


def stream_choice(self, delta) -> dict:
    """Step 2. One Delta as a streamed choice; self is the request's Call.

    Completions: completion_choice(delta.index, delta.text, delta.finish_reason).
    Chat: chat_delta(delta.index, {"content": delta.text} if there is text else {},
    delta.finish_reason).
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 15, step 2: stream_choice() is yours to write "
                              "— see lessons/lesson15/README.md, or run with --solution")


async def stream(self, call):
    """Step 3. An async generator of SSE strings for one request; self is the Routes.

    1. Chat only: first one chunk opening every choice with the role:
       call.chunk([chat_delta(h.index, {"role": "assistant", "content": ""}, None) for h in call.handles])
    2. For each delta of call.deltas(): finish_reason "error" -> yield
       sse(APIError(500, "The engine failed during generation.", type="server_error").body())
       and stop; else, when it has text or a finish_reason, yield sse(call.chunk([call.stream_choice(delta)])).
    3. If call.include_usage: sse(call.chunk([], call.usage())).
    4. Last: sse("[DONE]").
    """
    # TODO: your code here, in place of this raise.
    raise NotImplementedError("lesson 15, step 3: stream() is yours to write "
                              "— see lessons/lesson15/README.md, or run with --solution")
    yield  # an async generator
