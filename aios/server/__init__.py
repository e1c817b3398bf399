"""An OpenAI-compatible HTTP server around the engine (see api.py)."""
from aios.server.api import build_app

__all__ = ["build_app"]
