"""A server in a child process: a free loopback port, waiting for /health, stopping it.

    port = free_port()
    proc = subprocess.Popen([..., "--port", str(port)], ...)
    wait_healthy(proc, f"http://127.0.0.1:{port}")     # RuntimeError if it dies or never answers
    ...
    stop(proc)                                         # SIGTERM: a graceful shutdown, then kill

Shared by benchmarks/serve.py, the lesson 15 runner (aios/course/serving.py),
lesson 14's two-rank checks (aios/course/parallel.py) and the server tests.
"""
import signal
import socket
import subprocess
import time

import httpx


def free_port() -> int:
    """A loopback port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(proc: subprocess.Popen | None, url: str, timeout: float = 300) -> None:
    """Return once GET url/health answers 200; proc None: a server started elsewhere."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            output = proc.stdout.read()[-3000:] if proc.stdout else ""
            raise RuntimeError(f"the server exited with code {proc.returncode}" + (f":\n{output}" if output else ""))
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"no healthy server at {url} after {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM lets the server finish or abort its requests; kill it if that takes over 30 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
