"""Lesson 03, solved: the engine's own methods, taken from where they live.

    finish_reason  aios/engine/scheduler.py: Scheduler._finish_reason
    postprocess    aios/engine/scheduler.py: Scheduler.postprocess, called by
                   LLMEngine.step() (aios/engine/llm_engine.py) after each step
"""
from aios.engine.scheduler import Scheduler

finish_reason = Scheduler._finish_reason
postprocess = Scheduler.postprocess

__all__ = ["finish_reason", "postprocess"]
