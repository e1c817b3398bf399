"""Lesson 15 checks: SSE chunks, then a real server with your pieces, through the `openai` client.

    python -m pytest lessons/lesson15            # your lessons/lesson15/streaming.py
    AIOS_USE_SOLUTIONS=1 python -m pytest lessons/lesson15
"""
import asyncio
import json
from types import SimpleNamespace

import pytest

from aios.course import load_exercise
from aios.course.exercise import use_solutions
from aios.course.serving import launch, stop
from aios.server.api import Routes
from aios.server.call import Call
from aios.server.handle import Delta

streaming = load_exercise(15, "streaming")
DELTAS = [Delta(0, "Hello", 1, None), Delta(1, "Hi", 1, None), Delta(0, "", 2, None),
          Delta(0, " there", 3, "length"), Delta(1, "!", 2, "stop")]


def _call(chat: bool, include_usage: bool = True) -> Call:
    out = asyncio.Queue()
    for d in DELTAS:
        out.put_nowait(d)
    handles = [SimpleNamespace(index=i, num_prompt_tokens=4) for i in range(2)]
    return Call("cmpl-15", "m", chat, handles, out, 1, include_usage)


def _events(stream, chat: bool, stream_choice) -> list:
    async def collect():
        call = _call(chat)
        call.stream_choice = stream_choice.__get__(call)
        return [event async for event in stream(None, call)]
    return asyncio.run(collect())


def _parsed(events: list[str]) -> list:
    parsed = []
    for e in events:
        assert e.startswith("data: ") and e.endswith("\n\n"), repr(e)
        body = e[len("data: "):-2]
        parsed.append(body if body == "[DONE]" else {k: v for k, v in json.loads(body).items() if k != "created"})
    return parsed


# ------------------------------------------------------------- step 1 ---
def test_sse_frames_one_event():
    assert streaming.sse("[DONE]") == "data: [DONE]\n\n"
    assert streaming.sse({"a": [1, 2], "b": "x"}) == 'data: {"a":[1,2],"b":"x"}\n\n'


# ------------------------------------------------------------- step 2 ---
@pytest.mark.parametrize("chat", [False, True])
def test_a_delta_becomes_one_choice(chat):
    for d in DELTAS:
        assert streaming.stream_choice(_call(chat), d) == Call.stream_choice(_call(chat), d)


# ------------------------------------------------------------- step 3 ---
@pytest.mark.parametrize("chat", [False, True])
def test_the_stream_ends_in_done(chat):
    mine = _parsed(_events(streaming.stream, chat, streaming.stream_choice))
    ours = _parsed(_events(Routes._stream, chat, Call.stream_choice))
    assert mine[-1] == "[DONE]" and mine == ours


# ------------------------------------------------------- the server ---
def test_openai_client_streams_from_your_server():
    streaming.sse({})                    # a TODO left: its one line, not a broken server
    proc, url = launch(solution=use_solutions(), options=["--max-num-seqs", "4"])
    try:
        _stream_through_openai(url)
    finally:
        stop(proc)


def _stream_through_openai(server: str):
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=f"{server}/v1", api_key="none")
    model = client.models.list().data[0].id
    whole = client.completions.create(model=model, prompt="The capital of France is", max_tokens=8,
                                      temperature=0).choices[0].text
    parts, finish = [], None
    for chunk in client.completions.create(model=model, prompt="The capital of France is", max_tokens=8,
                                           temperature=0, stream=True):
        parts.append(chunk.choices[0].text)
        finish = chunk.choices[0].finish_reason or finish
    assert "".join(parts) == whole and finish == "length"
    chat = client.chat.completions.create(model=model, messages=[{"role": "user", "content": "Hi"}],
                                          max_tokens=6, temperature=0, stream=True)
    chunks = list(chat)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert chunks[-1].choices[0].finish_reason in ("stop", "length")
