"""Lesson 06, solved: the engine's own BlockManager methods (aios/engine/block_manager.py).

    can_allocate, allocate, deallocate   called by the Scheduler to admit and retire
    can_append, may_append               called by the Scheduler before each decode step
                                         (aios/engine/scheduler.py)
The engine's allocate() and may_append() also do prefix caching (lesson 13);
with enable_prefix_caching=False, as in lessons 6 to 12, they do what the
exercise asks and no more.
"""
from aios.engine.block_manager import BlockManager

can_allocate = BlockManager.can_allocate
allocate = BlockManager.allocate
deallocate = BlockManager.deallocate
can_append = BlockManager.can_append
may_append = BlockManager.may_append

__all__ = ["can_allocate", "allocate", "deallocate", "can_append", "may_append"]
