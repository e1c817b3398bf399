"""Lesson 08, solved: the engine's own Scheduler methods (aios/engine/scheduler.py).

    schedule          Scheduler.schedule, called by LLMEngine.step() (aios/engine/llm_engine.py)
    schedule_prefill  Scheduler._schedule_prefill
    schedule_decode   Scheduler._schedule_decode
    preempt           Scheduler._preempt
    finish            Scheduler.finish, called by postprocess (lesson 3) and LLMEngine.abort()
"""
from aios.engine.scheduler import Scheduler

schedule = Scheduler.schedule
schedule_prefill = Scheduler._schedule_prefill
schedule_decode = Scheduler._schedule_decode
preempt = Scheduler._preempt
finish = Scheduler.finish

__all__ = ["schedule", "schedule_prefill", "schedule_decode", "preempt", "finish"]
