"""`aios serve`: the OpenAI-compatible server, over real HTTP on loopback.

Two servers run as subprocesses (`python -m aios.cli serve`) for the whole
module, both with the default model:
  server        a normal one, with async scheduling: the official `openai`
                client, errors, load
  tiny_server   one sequence at a time and a queue of one: 503 and SIGTERM
The greedy reference is LLM.generate / LLM.chat in this process. Every
server is stopped at the end, whatever happened.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import httpx
import pytest

openai = pytest.importorskip("openai")

from aios import SamplingParams  # noqa: E402
from aios.utils.server_process import free_port, stop, wait_healthy  # noqa: E402

MODEL = "SmolLM2-135M-Instruct"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROMPTS = ["The capital of France is", "def fibonacci(n):", "Once upon a time,",
           "The three primary colors are", "My favourite food is", "import numpy as np\n",
           "Water boils at", "In 1969, the first"]


# ------------------------------------------------------------ the servers ---
def launch(*options: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    cmd = [sys.executable, "-m", "aios.cli", "serve", "--port", str(port),
           "--log-level", "warning", *options]
    env = dict(os.environ, OMP_NUM_THREADS="1")     # two servers + the tests share 2 cores
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    return proc, f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def servers():
    # Started together so that the two model loads overlap.
    # The main server schedules asynchronously, as it does by default on a GPU, so the
    # HTTP tests below (streams, stops, disconnects) cover that path too; the tiny one
    # runs the plain step loop.
    started = [launch("--max-queue", "256", "--num-kv-blocks", "1024", "--async-scheduling"),
               launch("--max-num-seqs", "1", "--max-queue", "1", "--num-kv-blocks", "64",
                      "--max-model-len", "1024", "--shutdown-timeout", "1")]
    try:
        for proc, url in started:
            wait_healthy(proc, url)
        yield started
    finally:
        for proc, _ in started:
            stop(proc)


@pytest.fixture(scope="module")
def server(servers) -> str:
    return servers[0][1]


@pytest.fixture(scope="module")
def tiny_server(servers):
    return servers[1]


@pytest.fixture(scope="module")
def client(server):
    with openai.OpenAI(base_url=f"{server}/v1", api_key="unused", max_retries=0) as c:
        yield c


def greedy_text(llm, prompt, max_tokens: int, **kw) -> str:
    return llm.generate(prompt, SamplingParams(temperature=0, max_tokens=max_tokens, **kw),
                        use_tqdm=False)[0]["text"]


def stats(url: str) -> dict:
    return httpx.get(f"{url}/v1/internal/stats").json()


def poll(condition, timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_idle(url: str, timeout: float = 15) -> dict:
    """Poll until nothing runs or waits and every KV block is free."""
    deadline = time.monotonic() + timeout
    while True:
        s = stats(url)
        if (s["num_running"] == 0 and s["num_waiting"] == 0
                and s["num_free_blocks"] == s["num_blocks"]) or time.monotonic() > deadline:
            return s
        time.sleep(0.1)


# ------------------------------------------------------ the happy paths ---
def test_models(client):
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]


def test_completion_stream_equals_nonstream_equals_llm(client, default_llm):
    prompt = PROMPTS[0]
    reference = greedy_text(default_llm, prompt, 16)
    full = client.completions.create(model=MODEL, prompt=prompt, max_tokens=16, temperature=0)
    chunks = list(client.completions.create(model=MODEL, prompt=prompt, max_tokens=16,
                                            temperature=0, stream=True,
                                            stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert full.choices[0].text == streamed == reference
    assert full.choices[0].finish_reason == "length"
    n_prompt = len(default_llm.tokenizer.encode(prompt))
    assert full.usage.prompt_tokens == n_prompt and full.usage.completion_tokens == 16
    assert chunks[-1].choices == [] and chunks[-1].usage.total_tokens == n_prompt + 16


def test_chat_stream_equals_nonstream_equals_llm(client, default_llm):
    messages = [{"role": "system", "content": "You are a concise assistant."},
                {"role": "user", "content": "What is the capital of France?"}]
    reference = default_llm.chat(messages, SamplingParams(temperature=0, max_tokens=24))[0]
    full = client.chat.completions.create(model=MODEL, messages=messages, temperature=0,
                                          max_completion_tokens=24)
    chunks = list(client.chat.completions.create(model=MODEL, messages=messages, temperature=0,
                                                 max_tokens=24, stream=True,
                                                 stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert full.choices[0].message.content == streamed == reference["text"]
    assert full.choices[0].message.role == "assistant"
    assert full.choices[0].finish_reason == reference["finish_reason"]
    assert full.usage.prompt_tokens == reference["num_prompt_tokens"]
    assert full.usage.completion_tokens == len(reference["token_ids"]) == chunks[-1].usage.completion_tokens


def test_stop_strings_batches_and_n(client, default_llm):
    reference = greedy_text(default_llm, PROMPTS[2], 24)
    stop = reference.split()[3]          # a word from the middle of the answer
    expected = reference[:reference.index(stop)]
    full = client.completions.create(model=MODEL, prompt=PROMPTS[2], max_tokens=24,
                                     temperature=0, stop=[stop])
    streamed = "".join(c.choices[0].text for c in client.completions.create(
        model=MODEL, prompt=PROMPTS[2], max_tokens=24, temperature=0, stop=stop, stream=True))
    assert full.choices[0].text == streamed == expected
    assert full.choices[0].finish_reason == "stop"
    # A batch of prompts, two samples each: indices run prompt-major.
    batch = client.completions.create(model=MODEL, prompt=PROMPTS[:2], max_tokens=8,
                                      temperature=0, n=2)
    texts = [c.text for c in sorted(batch.choices, key=lambda c: c.index)]
    first, second = (greedy_text(default_llm, p, 8) for p in PROMPTS[:2])
    assert texts == [first, first, second, second]
    # Seeded sampling is reproducible; the n samples of one request differ in seed.
    runs = [client.completions.create(model=MODEL, prompt=PROMPTS[4], max_tokens=12,
                                      temperature=1.0, top_p=0.9, seed=7, n=2,
                                      extra_body={"top_k": 50})
            for _ in range(2)]
    assert [c.text for c in runs[0].choices] == [c.text for c in runs[1].choices]


# ------------------------------------------------------------- errors ---
GOOD = {"model": MODEL, "prompt": "Hello", "max_tokens": 2}
CHAT = {"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
BAD_REQUESTS = [   # (endpoint, body, status, param)
    ("completions", "{not json", 400, None),
    ("completions", "[1, 2]", 400, None),
    ("completions", {"prompt": "Hello"}, 400, "model"),
    ("completions", {"model": MODEL}, 400, "prompt"),
    ("completions", {**GOOD, "model": "gpt-4"}, 404, "model"),
    ("completions", {**GOOD, "max_tokens": "5"}, 400, "max_tokens"),
    ("completions", {**GOOD, "max_tokens": 0}, 400, "max_tokens"),
    ("completions", {**GOOD, "max_tokens": 10_000}, 400, "max_tokens"),
    ("completions", {**GOOD, "prompt": "hello " * 9000}, 400, "prompt"),
    ("completions", {**GOOD, "prompt": [1.5, 2]}, 400, "prompt"),
    ("completions", {**GOOD, "prompt": [10 ** 9]}, 400, "prompt"),
    ("completions", {**GOOD, "temperature": -1}, 400, "temperature"),
    ("completions", {**GOOD, "temperature": "hot"}, 400, "temperature"),
    ("completions", {**GOOD, "top_p": 1.5}, 400, "top_p"),
    ("completions", {**GOOD, "top_k": -7}, 400, "top_k"),
    ("completions", {**GOOD, "n": 0}, 400, "n"),
    ("completions", {**GOOD, "stop": [""]}, 400, "stop"),
    ("chat/completions", {**CHAT, "messages": []}, 400, "messages"),
    ("chat/completions", {**CHAT, "messages": [{"role": "robot", "content": "x"}]}, 400, "messages"),
    ("chat/completions", {**CHAT, "messages": "Hi"}, 400, "messages"),
    ("chat/completions", {**CHAT, "max_completion_tokens": 10_000}, 400, "max_tokens"),
    ("chat/completions", {**CHAT, "model": "nope"}, 404, "model"),
    # Log-probabilities: out of range, or more than the server's --max-logprobs (20).
    ("completions", {**GOOD, "logprobs": -1}, 400, "logprobs"),
    ("completions", {**GOOD, "logprobs": 21}, 400, "logprobs"),
    ("completions", {**GOOD, "logprobs": True}, 400, "logprobs"),
    ("chat/completions", {**CHAT, "top_logprobs": 2}, 400, "top_logprobs"),
    ("chat/completions", {**CHAT, "logprobs": True, "top_logprobs": -1}, 400, "top_logprobs"),
    ("chat/completions", {**CHAT, "logprobs": True, "top_logprobs": 21}, 400, "top_logprobs"),
    # Options we do not implement are refused, never silently ignored.
    ("completions", {**GOOD, "best_of": 3}, 400, "best_of"),
    ("completions", {**GOOD, "suffix": "!"}, 400, "suffix"),
    ("completions", {**GOOD, "logit_bias": {"42": -100}}, 400, "logit_bias"),
    ("completions", {**GOOD, "presence_penalty": 0.5}, 400, "presence_penalty"),
    ("chat/completions", {**CHAT, "frequency_penalty": 1}, 400, "frequency_penalty"),
    ("chat/completions", {**CHAT, "tools": [{"type": "function", "function": {"name": "f"}}]},
     400, "tools"),
    ("chat/completions", {**CHAT, "tool_choice": "required"}, 400, "tool_choice"),
    ("chat/completions", {**CHAT, "functions": [{"name": "f"}]}, 400, "functions"),
    ("chat/completions", {**CHAT, "response_format": {"type": "json_object"}}, 400,
     "response_format"),
]


@pytest.mark.parametrize("endpoint,body,status,param", BAD_REQUESTS,
                         ids=[f"{i}-{e}-{p}" for i, (e, _, _, p) in enumerate(BAD_REQUESTS)])
def test_bad_request_then_good_request(server, endpoint, body, status, param):
    content = body if isinstance(body, str) else json.dumps(body)
    r = httpx.post(f"{server}/v1/{endpoint}", content=content,
                   headers={"Content-Type": "application/json"}, timeout=60)
    assert r.status_code == status, r.text
    error = r.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["message"]
    assert error["param"] == param, error
    # The engine keeps serving.
    good = GOOD if endpoint == "completions" else CHAT
    ok = httpx.post(f"{server}/v1/{endpoint}", json=good, timeout=60)
    assert ok.status_code == 200, ok.text


def test_default_values_of_unsupported_options_are_accepted(server):
    defaults = {"logit_bias": {}, "presence_penalty": 0, "frequency_penalty": 0.0}
    chat = {**CHAT, **defaults, "tools": [], "tool_choice": "none",
            "response_format": {"type": "text"}}
    completion = {**GOOD, **defaults, "best_of": 1, "suffix": None, "echo": False}
    for endpoint, body in (("chat/completions", chat), ("completions", completion)):
        r = httpx.post(f"{server}/v1/{endpoint}", json=body, timeout=60)
        assert r.status_code == 200, r.text


def test_openai_client_raises_its_usual_errors(client):
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-4", prompt="Hi", max_tokens=2)
    with pytest.raises(openai.BadRequestError, match="context length"):
        client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "Hi"}],
                                       max_tokens=100_000)
    with pytest.raises(openai.NotFoundError):
        client.get("/nothing/here", cast_to=object)


def test_health_and_metrics(server, client):
    assert httpx.get(f"{server}/health").json() == {"status": "ok"}
    client.completions.create(model=MODEL, prompt="Hi", max_tokens=3, temperature=0)
    text = httpx.get(f"{server}/metrics").text
    for name in ("aios_num_requests_running", "aios_num_requests_waiting",
                 "aios_kv_cache_usage_ratio", "aios_generation_tokens_total",
                 "aios_time_to_first_token_seconds_bucket",
                 "aios_inter_token_latency_seconds_bucket"):
        assert f"\n{name}" in text, name
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["aios_generation_tokens_total"] >= 3
    assert values["aios_time_to_first_token_seconds_count"] >= 1
    assert values['aios_time_to_first_token_seconds_bucket{le="+Inf"}'] == \
        values["aios_time_to_first_token_seconds_count"]


# --------------------------------------------------------------- load ---
def test_64_concurrent_streams_get_greedy_text(server, default_llm):
    outputs = default_llm.generate(PROMPTS, SamplingParams(temperature=0, max_tokens=12),
                                   use_tqdm=False)
    references = {p: o["text"] for p, o in zip(PROMPTS, outputs)}

    async def one(client, prompt):
        stream = await client.completions.create(model=MODEL, prompt=prompt, max_tokens=12,
                                                 temperature=0, stream=True)
        return prompt, "".join([c.choices[0].text async for c in stream])

    async def main():
        async with openai.AsyncOpenAI(base_url=f"{server}/v1", api_key="unused",
                                      max_retries=0, timeout=120) as client:
            jobs = [one(client, PROMPTS[i % len(PROMPTS)]) for i in range(64)]
            return await asyncio.wait_for(asyncio.gather(*jobs), timeout=180)

    results = asyncio.run(main())
    assert len(results) == 64
    for prompt, text in results:
        assert text == references[prompt], prompt
    assert wait_idle(server)["num_running"] == 0


def test_disconnected_clients_are_aborted_and_free_their_blocks(server):
    body = {"model": MODEL, "prompt": "Tell me a very long story.", "max_tokens": 800,
            "ignore_eos": True, "stream": True}

    async def leave_early(client):
        async with client.stream("POST", f"{server}/v1/completions", json=body) as r:
            assert r.status_code == 200
            events = 0
            async for line in r.aiter_lines():
                events += line.startswith("data: ")
                if events == 3:
                    return   # closing the stream drops the connection

    async def give_up_waiting(client):
        # A non-streamed answer sends nothing until it is done: the server
        # must notice the closed connection by itself.
        with pytest.raises(httpx.ReadTimeout):
            await client.post(f"{server}/v1/completions", json={**body, "stream": False},
                              timeout=2)

    async def main():
        async with httpx.AsyncClient(timeout=120) as client:
            jobs = [leave_early(client) for _ in range(16)]
            jobs += [give_up_waiting(client) for _ in range(4)]
            await asyncio.wait_for(asyncio.gather(*jobs), timeout=120)

    asyncio.run(main())
    s = wait_idle(server)
    assert s["num_running"] == 0 and s["num_waiting"] == 0
    assert s["num_free_blocks"] == s["num_blocks"], s
    # 20 x 800 tokens were asked for; the aborts stopped them long before.
    metrics = httpx.get(f"{server}/metrics").text
    assert 'aios_request_success_total{finish_reason="abort"} 20' in metrics
    assert httpx.post(f"{server}/v1/completions", json=GOOD, timeout=60).status_code == 200


def _open_stream(url: str, max_tokens: int = 500):
    """Start a long streaming request; -> (client, response, its lines).

    Keep the lines iterator: dropping a half-read httpx iterator closes the
    connection, which the server rightly takes for a client that left.
    """
    client = httpx.Client(timeout=60)
    body = {"model": MODEL, "prompt": "Count slowly:", "max_tokens": max_tokens,
            "ignore_eos": True, "stream": True}
    response = client.send(client.build_request("POST", f"{url}/v1/completions", json=body),
                           stream=True)
    assert response.status_code == 200, response.read()
    return client, response, response.iter_lines()


def test_full_queue_answers_503(tiny_server):
    _, url = tiny_server                        # --max-num-seqs 1 --max-queue 1
    running = _open_stream(url)
    next(running[2])                            # it runs: the one slot is taken
    waiting = _open_stream(url)                 # accepted, waits in the queue
    assert poll(lambda: stats(url)["num_waiting"] == 1)
    r = httpx.post(f"{url}/v1/completions", json=GOOD, timeout=30)
    assert r.status_code == 503, r.text
    assert r.json()["error"]["code"] == "queue_full"
    for client, response, _ in (running, waiting):
        response.close()
        client.close()
    s = wait_idle(url)
    assert s["num_free_blocks"] == s["num_blocks"], s
    assert httpx.post(f"{url}/v1/completions", json=GOOD, timeout=30).status_code == 200


def test_sigterm_stops_gracefully(tiny_server):
    proc, url = tiny_server
    client, response, lines = _open_stream(url)
    next(lines)
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    # The stream ends (its request aborted after --shutdown-timeout 1) ...
    try:
        for _ in lines:
            pass
    except httpx.HTTPError:
        pass                                    # the server may cut the connection
    client.close()
    # ... and the process exits by itself, after stopping the engine thread.
    # (uvicorn re-raises the SIGTERM once it has shut down, so a supervisor sees
    # the usual "terminated by SIGTERM" status.)
    code = proc.wait(30)
    log = proc.stdout.read()
    assert code in (0, -signal.SIGTERM) and "aios: engine stopped" in log, (code, log)
    assert time.monotonic() - started < 30
    with pytest.raises(httpx.TransportError):
        httpx.get(f"{url}/health", timeout=2)


# ------------------------------------------------- in-process, no HTTP ---
def test_engine_thread_failure_fails_requests_instead_of_hanging(default_llm, monkeypatch):
    from aios.server.async_engine import AsyncEngine
    from aios.server.handle import RequestHandle
    from aios.server.protocol import APIError

    def broken_step():
        raise RuntimeError("simulated device failure")

    monkeypatch.setattr(default_llm, "step", broken_step)

    async def main():
        engine = AsyncEngine(default_llm)
        engine.start()
        out = asyncio.Queue()
        try:
            handle = engine.add(RequestHandle(0, out, SamplingParams(max_tokens=4), prompt="Hi"))
            await asyncio.wait_for(handle.accepted, 30)
            delta = await asyncio.wait_for(out.get(), 30)
            assert delta.finish_reason == "error"
            assert poll(lambda: not engine.is_alive, 10)
            with pytest.raises(APIError) as refused:
                engine.add(RequestHandle(0, out, SamplingParams(), prompt="Hi"))
            assert refused.value.status == 503 and "simulated" in refused.value.message
        finally:
            engine.shutdown()

    try:
        asyncio.run(main())
    finally:   # leave the shared LLM as we found it
        monkeypatch.undo()
        scheduler = default_llm.scheduler
        for seq in list(scheduler.waiting) + list(scheduler.running):
            default_llm.abort(seq)


# ------------------------------------------------------ log-probabilities ---
LOGPROB_ATOL = 1e-3   # the engine's logits agree with transformers' to ~1e-4 (test_correctness.py)


def assert_top_close(top_values: list[float], ref_row, k: int) -> None:
    """The k alternatives' log-probabilities are transformers' k largest (a dict keyed by
    token text may hold fewer, when two tokens read the same)."""
    ours = sorted(top_values, reverse=True)
    assert 1 <= len(ours) <= k
    ref = ref_row.topk(k).values.tolist()
    assert all(abs(a - b) < LOGPROB_ATOL for a, b in zip(ours, ref[:len(ours)])), (ours, ref)


def test_completion_logprobs_with_echo_match_transformers(client, default_llm, hf_gguf_model):
    from conftest import hf_logprobs
    prompt, k = PROMPTS[0], 3
    prompt_ids = default_llm.tokenize(prompt)
    out = default_llm.generate(prompt, SamplingParams(temperature=0, max_tokens=8), use_tqdm=False)[0]
    ids = prompt_ids + out["token_ids"]
    ref = hf_logprobs(hf_gguf_model, ids)
    kwargs = dict(model=MODEL, prompt=prompt, max_tokens=8, temperature=0, logprobs=k, echo=True)
    full = client.completions.create(**kwargs).choices[0]
    chunks = [c.choices[0] for c in client.completions.create(**kwargs, stream=True)]
    streamed = {name: [v for c in chunks if c.logprobs for v in getattr(c.logprobs, name)]
                for name in ("tokens", "token_logprobs", "top_logprobs", "text_offset")}
    assert full.text == "".join(c.text for c in chunks) == prompt + out["text"]
    for got in (full.logprobs.model_dump(), streamed):
        assert len(got["tokens"]) == len(ids)
        assert got["token_logprobs"][0] is None and got["top_logprobs"][0] is None
        for i in range(1, len(ids)):
            assert abs(got["token_logprobs"][i] - ref[i - 1, ids[i]].item()) < LOGPROB_ATOL
            assert_top_close(list(got["top_logprobs"][i].values()), ref[i - 1], k)
        assert got["tokens"] == full.logprobs.tokens
        assert got["text_offset"] == full.logprobs.text_offset
    offsets, tokens = full.logprobs.text_offset, full.logprobs.tokens
    assert offsets[0] == 0 and all(b - a == len(t) for a, b, t in zip(offsets, offsets[1:], tokens))


def test_chat_top_logprobs_match_transformers(client, default_llm, hf_gguf_model):
    from conftest import hf_logprobs
    messages, k = [{"role": "user", "content": "What is the capital of France?"}], 2
    prompt_ids = default_llm.apply_chat_template(messages)
    out = default_llm.chat(messages, SamplingParams(temperature=0, max_tokens=8))[0]
    ref = hf_logprobs(hf_gguf_model, prompt_ids + out["token_ids"])[len(prompt_ids) - 1:]
    kwargs = dict(model=MODEL, messages=messages, max_tokens=8, temperature=0, logprobs=True,
                  top_logprobs=k)
    full = client.chat.completions.create(**kwargs).choices[0]
    chunks = [c.choices[0] for c in client.chat.completions.create(**kwargs, stream=True) if c.choices]
    streamed = [entry for c in chunks if c.logprobs for entry in c.logprobs.content]
    assert full.message.content == out["text"]
    for content in (full.logprobs.content, streamed):
        assert len(content) == len(out["token_ids"])
        for entry, token_id, ref_row in zip(content, out["token_ids"], ref):
            assert abs(entry.logprob - ref_row[token_id].item()) < LOGPROB_ATOL
            assert entry.bytes == list(entry.token.encode())
            assert len(entry.top_logprobs) == k
            assert_top_close([t.logprob for t in entry.top_logprobs], ref_row, k)
        assert [e.token for e in content] == [e.token for e in full.logprobs.content]
    # Without logprobs, none are sent.
    plain = client.chat.completions.create(model=MODEL, messages=messages, max_tokens=2)
    assert plain.choices[0].logprobs is None
