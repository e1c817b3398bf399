"""Lesson 15: start and stop a server with the lesson's pieces, on a free loopback port.

    proc, url = launch(solution=False)      # python -m aios.course.serve ... ; waits for /health
    stop(proc)
"""
import subprocess
import sys

from aios.course.exercise import REPO_ROOT
from aios.utils.server_process import free_port, stop, wait_healthy

__all__ = ["probe", "launch", "stop"]


def probe(module) -> None:
    """Run the lesson's three pieces once on fixed deltas, in this process: a TODO
    left raises its one line here, before a server starts (and fails on it)."""
    import asyncio
    from types import SimpleNamespace

    from aios.server.call import Call
    from aios.server.handle import Delta

    async def events():
        out = asyncio.Queue()
        for d in (Delta(0, "a", 1, None), Delta(0, "b", 2, "length")):
            out.put_nowait(d)
        call = Call("cmpl-probe", "m", True, [SimpleNamespace(index=0, num_prompt_tokens=1)], out, 1, True)
        call.stream_choice = module.stream_choice.__get__(call)
        return [e async for e in module.stream(None, call)]
    module.sse({})
    asyncio.run(events())


def launch(solution: bool, model: str | None = None, options=(), timeout: float = 300):
    port = free_port()
    cmd = [sys.executable, "-m", "aios.course.serve", *(["--solution"] if solution else []),
           *([model] if model else []), "--host", "127.0.0.1", "--port", str(port),
           "--log-level", "warning", *options]
    proc = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(proc, url, timeout)
    except RuntimeError:
        stop(proc)
        raise
    return proc, url
