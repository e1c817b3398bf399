"""Rank 0 -> workers: each step's (method, args), through shared memory.

Every step, rank 0 tells the workers what to run. The message is small (a
decode step's input arrays, or a prefill's new tokens and block tables), and
the workers are on the same host, so it goes the cheapest way there is:

    rank 0:   pickle (method, args) -> the next of SLOTS shared-memory slots
              release each worker's semaphore
    worker:   acquire its semaphore (wait for it), unpickle from that slot

A semaphore, not an Event: releasing one never waits for anybody, so rank 0
cannot block on a worker that has died (an Event's set() can: it waits for
its sleepers to wake up).

No lock guards the slots. Message m goes to slot m % SLOTS, so rank 0
overwrites message m - SLOTS. A worker reads a step's message before it joins
that step's collectives, and rank 0 writes step N+1's message after it has
waited for step N-1 (async scheduling: step N may still be running), so every
message older than the previous one has been read. Each message carries a
number, so a worker that finds one skipped (the rule broken) raises instead of
running the wrong step.
"""
import pickle
import struct
from multiprocessing import shared_memory

_HEADER = struct.Struct("<QQ")  # message number, the pickle's length in bytes
SLOTS = 4                       # messages a worker may lag behind (2 with async scheduling)


class StepChannel:
    """The writing end, on rank 0: one buffer, one semaphore per worker."""

    def __init__(self, size: int, num_workers: int, mp_context):
        self.slot_size = _HEADER.size + size
        self.shm = shared_memory.SharedMemory(create=True, size=SLOTS * self.slot_size)
        self.ready = [mp_context.Semaphore(0) for _ in range(num_workers)]
        self.num_sent = 0

    def reader(self, worker: int) -> "StepReader":
        """The reading end for worker `worker` (0-based); picklable, for spawn."""
        return StepReader(self.shm.name, self.slot_size, self.ready[worker])

    def send(self, method: str, *args) -> None:
        data = pickle.dumps((method, args), protocol=pickle.HIGHEST_PROTOCOL)
        if _HEADER.size + len(data) > self.slot_size:
            raise RuntimeError(f"a step description of {len(data)} bytes does not fit the "
                               f"{self.slot_size}-byte shared slot (a sizing bug)")
        self.num_sent += 1
        start = (self.num_sent % SLOTS) * self.slot_size
        _HEADER.pack_into(self.shm.buf, start, self.num_sent, len(data))
        self.shm.buf[start + _HEADER.size:start + _HEADER.size + len(data)] = data
        for ready in self.ready:
            ready.release()

    def close(self) -> None:
        """Free the shared memory (its name too). Safe to call twice."""
        if self.shm is None:
            return
        shm, self.shm = self.shm, None
        shm.close()
        try:
            shm.unlink()
        except FileNotFoundError:
            pass


class StepReader:
    """The reading end, in a worker. Attaches to the buffer on first use."""

    def __init__(self, shm_name: str, slot_size: int, ready):
        self.shm_name, self.slot_size, self.ready = shm_name, slot_size, ready
        self.shm: shared_memory.SharedMemory | None = None
        self.num_received = 0

    def __getstate__(self):
        return {"shm_name": self.shm_name, "slot_size": self.slot_size, "ready": self.ready,
                "shm": None, "num_received": 0}

    def recv(self) -> tuple[str, tuple]:
        """Block until rank 0 sends, then return (method, args)."""
        if self.shm is None:
            self.shm = shared_memory.SharedMemory(name=self.shm_name)
        self.ready.acquire()
        self.num_received += 1
        start = (self.num_received % SLOTS) * self.slot_size
        number, n = _HEADER.unpack_from(self.shm.buf, start)
        if number != self.num_received:
            raise RuntimeError(f"expected step message {self.num_received}, found {number}: "
                               f"rank 0 overwrote it before this worker had read it")
        start += _HEADER.size
        return pickle.loads(self.shm.buf[start:start + n])
