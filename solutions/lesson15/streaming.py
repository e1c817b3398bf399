"""Lesson 15, solved: the engine's own streaming pieces (aios/server/api.py, call.py).

    sse             one server-sent event: "data: <json>\\n\\n"
    stream_choice   Call.stream_choice: a Delta as one streamed choice
    stream          Routes._stream: the whole event stream of one request, ending in [DONE]
"""
from aios.server.api import Routes, sse
from aios.server.call import Call

stream_choice = Call.stream_choice
stream = Routes._stream

__all__ = ["sse", "stream_choice", "stream"]
