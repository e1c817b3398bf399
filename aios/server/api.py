"""The HTTP routes: OpenAI's API on top of an AsyncEngine.

    GET  /v1/models             the one model we serve
    POST /v1/completions        prompt(s) -> text, streamed or not
    POST /v1/chat/completions   messages -> the assistant's reply, streamed or not
    GET  /health                200 while the engine thread runs, else 503
    GET  /metrics               Prometheus text
    GET  /v1/internal/stats     the engine's queues and KV blocks, as JSON

Every error, ours or the framework's, leaves as OpenAI's error body
{"error": {"message", "type", "param", "code"}}, so the official clients
raise their usual exceptions.
"""
import asyncio
import json
import sys
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from aios.server.async_engine import AsyncEngine
from aios.server.call import Call, EventStream
from aios.server.handle import RequestHandle
from aios.server.protocol import (APIError, ChatCompletionRequest, CompletionRequest, chat_delta,
                                  envelope, model_list, new_id, validation_error)


def build_app(engine, model_name: str, max_queue: int = 1024) -> FastAPI:
    """A FastAPI app serving `engine` (an aios LLM) under the name `model_name`.

    The app owns the engine while it runs: it is driven by the app's engine
    thread only, and closed when the app shuts down.
    """
    async_engine = AsyncEngine(engine, max_queue)

    @asynccontextmanager
    async def lifespan(app):
        async_engine.start()
        try:
            yield
        finally:   # uvicorn got SIGTERM/SIGINT and has drained its connections
            await asyncio.to_thread(async_engine.shutdown)
            if hasattr(engine, "close"):
                engine.close()      # tensor-parallel worker processes, if any
            print("aios: engine stopped", file=sys.stderr, flush=True)

    app = FastAPI(title="aios", summary="An OpenAI-compatible LLM server", lifespan=lifespan)
    app.state.async_engine = async_engine
    routes = Routes(async_engine, model_name, engine.config.max_model_len,
                    engine.config.max_logprobs)
    app.get("/health")(routes.health)
    app.get("/metrics")(routes.metrics)
    app.get("/v1/internal/stats")(routes.stats)
    app.get("/v1/models")(routes.models)
    app.post("/v1/completions")(routes.completions)
    app.post("/v1/chat/completions")(routes.chat_completions)
    _add_error_handlers(app)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request, e: APIError):
        return JSONResponse(e.body(), status_code=e.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request, e: StarletteHTTPException):   # unknown route, wrong method
        code = "not_found" if e.status_code == 404 else None
        return JSONResponse(APIError(e.status_code, str(e.detail), code=code).body(),
                            status_code=e.status_code)

    @app.exception_handler(Exception)
    async def server_error(request, e: Exception):
        error = APIError(500, f"Internal server error: {type(e).__name__}: {e}",
                         type="server_error")
        return JSONResponse(error.body(), status_code=500)


async def parse(request: Request, model_cls):
    """Read and validate a JSON body ourselves, to word the errors OpenAI's way."""
    try:
        body = json.loads(await request.body())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise APIError(400, f"We could not parse the JSON body of your request ({e}). "
                            f"Send a JSON object with Content-Type: application/json.") from None
    if not isinstance(body, dict):
        raise APIError(400, "The request body must be a JSON object.")
    try:
        return model_cls.model_validate(body)
    except ValidationError as e:
        raise validation_error(e) from None


def sse(payload) -> str:
    """One server-sent event."""
    data = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    return f"data: {data}\n\n"


class Routes:
    def __init__(self, engine: AsyncEngine, model_name: str, max_model_len: int,
                 max_logprobs: int = 20):
        self.engine, self.model_name, self.max_model_len = engine, model_name, max_model_len
        self.max_logprobs = max_logprobs

    # ------------------------------------------------------------ simple ---
    async def health(self):
        if self.engine.is_alive:
            return {"status": "ok"}
        raise APIError(503, f"The engine is not running ({self.engine.error or 'stopped'}).",
                       code="engine_unavailable", type="server_error")

    async def stats(self):
        return self.engine.stats()

    async def metrics(self):
        text = self.engine.metrics.render(self.engine.stats())
        return PlainTextResponse(text, media_type="text/plain; version=0.0.4")

    async def models(self):
        return model_list(self.model_name, self.max_model_len)

    # -------------------------------------------------------- generation ---
    async def completions(self, request: Request):
        req = await parse(request, CompletionRequest)
        self._check_model(req.model)
        req.check_unsupported()
        inputs = [{"prompt": p, "echo": req.echo} for p in req.prompts()]
        return await self._generate(request, req, inputs, req.max_tokens, chat=False)

    async def chat_completions(self, request: Request):
        req = await parse(request, ChatCompletionRequest)
        self._check_model(req.model)
        req.check_unsupported()
        inputs = [{"messages": req.conversation()}]
        return await self._generate(request, req, inputs, req.max_new_tokens(), chat=True)

    def _check_model(self, name: str) -> None:
        if name != self.model_name:
            raise APIError(404, f"The model '{name}' does not exist. This server serves "
                                f"'{self.model_name}'.", "model", "model_not_found")

    async def _generate(self, request: Request, req, inputs: list[dict],
                        max_tokens: int | None, chat: bool):
        """Queue n sequences per input and answer with their text."""
        # Build every SamplingParams first: a bad value is refused before
        # the engine sees anything.
        params = [req.sampling_params(max_tokens, j, self.max_logprobs)
                  for _ in inputs for j in range(req.n)]
        out: asyncio.Queue = asyncio.Queue()    # shared by all choices of this request
        handles = []
        try:
            for index, p in enumerate(params):
                handle = RequestHandle(index, out, p, max_tokens=max_tokens,
                                       **inputs[index // req.n])
                handles.append(self.engine.add(handle))
            results = await asyncio.gather(*(h.accepted for h in handles),
                                           return_exceptions=True)
        except BaseException:
            self._abort(handles)
            raise
        errors = [r for r in results if isinstance(r, BaseException)]
        if errors:
            self._abort(handles)
            raise errors[0]
        call = Call(new_id("chatcmpl" if chat else "cmpl"), self.model_name, chat, handles,
                    out, req.n, req.include_usage, with_logprobs=params[0].logprobs is not None,
                    echo=not chat and req.echo)
        if req.stream:
            return EventStream(self._stream(call), on_close=lambda: self._abort(handles))
        return await self._collect(request, call)

    async def _abort_on_disconnect(self, request: Request, handles: list[RequestHandle]):
        # Nothing is sent before a non-streamed answer is complete, so nothing
        # would notice a client that left: ask the connection twice a second.
        while not await request.is_disconnected():
            await asyncio.sleep(0.5)
        self._abort(handles)    # their final "abort" Deltas end _collect's loop

    def _abort(self, handles: list[RequestHandle]) -> None:
        for handle in handles:
            self.engine.abort(handle)

    async def _stream(self, call: "Call"):
        if call.chat:     # OpenAI opens each chat choice with the role
            yield sse(call.chunk([chat_delta(h.index, {"role": "assistant", "content": ""}, None)
                                  for h in call.handles]))
        async for delta in call.deltas():
            if delta.finish_reason == "error":
                yield sse(APIError(500, "The engine failed during generation.",
                                   type="server_error").body())
                break
            if call.has_news(delta):
                yield sse(call.chunk([call.stream_choice(delta)]))
        if call.include_usage:
            yield sse(call.chunk([], call.usage()))
        yield sse("[DONE]")

    async def _collect(self, request: Request, call: "Call"):
        """Wait for every choice; abort them if the client leaves meanwhile."""
        n = len(call.handles)
        texts, reasons = [h.prompt_text for h in call.handles], [None] * n
        items: list[list[dict]] = [[] for _ in range(n)]      # log-probability entries
        watcher = asyncio.create_task(self._abort_on_disconnect(request, call.handles))
        try:
            async for delta in call.deltas():
                texts[delta.index] += delta.text
                reasons[delta.index] = delta.finish_reason
                items[delta.index] += (delta.prompt_logprobs or []) + delta.logprobs
        finally:
            watcher.cancel()
            self._abort(call.handles)
        if "error" in reasons:
            raise APIError(500, "The engine failed during generation.", type="server_error")
        choices = [call.choice(i, texts[i], reasons[i], items[i]) for i in range(n)]
        return envelope("chat.completion" if call.chat else "text_completion",
                        call.request_id, call.model, choices, call.usage())
