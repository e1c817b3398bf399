"""Lesson 15, solved: the engine's own streaming pieces (aios/server/api.py).

    sse             one server-sent event: "data: <json>\\n\\n"
    stream_choice   Call.stream_choice: a Delta as one streamed choice
    stream          Routes._stream: the whole event stream of one request, ending in [DONE]
"""
from aios.server.api import Call, Routes, sse

stream_choice = Call.stream_choice
stream = Routes._stream

__all__ = ["sse", "stream_choice", "stream"]
