"""Rank 0 -> workers: each step's (method, args), through shared memory.

Every step, rank 0 tells the workers what to run. The message is small (a few
token ids and block tables per sequence), and the workers are on the same
host, so it goes the cheapest way there is:

    rank 0:   pickle (method, args) -> one shared-memory buffer
              release each worker's semaphore
    worker:   acquire its semaphore (wait for it), unpickle from the buffer

A semaphore, not an Event: releasing one never waits for anybody, so rank 0
cannot block on a worker that has died (an Event's set() can: it waits for
its sleepers to wake up).

No lock guards the buffer. Rank 0 writes the next message only after the
current step's collectives have completed, and every worker joins those
collectives only after it has read the message: so nobody is still reading
when rank 0 writes again. Each message carries a number, so a worker that
finds one skipped (the rule broken) raises instead of running the wrong step.
"""
import pickle
import struct
from multiprocessing import shared_memory

_HEADER = struct.Struct("<QQ")  # message number, the pickle's length in bytes


class StepChannel:
    """The writing end, on rank 0: one buffer, one semaphore per worker."""

    def __init__(self, size: int, num_workers: int, mp_context):
        self.shm = shared_memory.SharedMemory(create=True, size=_HEADER.size + size)
        self.ready = [mp_context.Semaphore(0) for _ in range(num_workers)]
        self.num_sent = 0

    def reader(self, worker: int) -> "StepReader":
        """The reading end for worker `worker` (0-based); picklable, for spawn."""
        return StepReader(self.shm.name, self.ready[worker])

    def send(self, method: str, *args) -> None:
        data = pickle.dumps((method, args), protocol=pickle.HIGHEST_PROTOCOL)
        if _HEADER.size + len(data) > self.shm.size:
            raise RuntimeError(f"a step description of {len(data)} bytes does not fit the "
                               f"{self.shm.size}-byte shared buffer (a sizing bug)")
        self.num_sent += 1
        _HEADER.pack_into(self.shm.buf, 0, self.num_sent, len(data))
        self.shm.buf[_HEADER.size:_HEADER.size + len(data)] = data
        for ready in self.ready:
            ready.release()

    def close(self) -> None:
        self.shm.close()
        self.shm.unlink()


class StepReader:
    """The reading end, in a worker. Attaches to the buffer on first use."""

    def __init__(self, shm_name: str, ready):
        self.shm_name, self.ready = shm_name, ready
        self.shm: shared_memory.SharedMemory | None = None
        self.num_received = 0

    def __getstate__(self):
        return {"shm_name": self.shm_name, "ready": self.ready, "shm": None, "num_received": 0}

    def recv(self) -> tuple[str, tuple]:
        """Block until rank 0 sends, then return (method, args)."""
        if self.shm is None:
            self.shm = shared_memory.SharedMemory(name=self.shm_name)
        self.ready.acquire()
        number, n = _HEADER.unpack_from(self.shm.buf, 0)
        self.num_received += 1
        if number != self.num_received:
            raise RuntimeError(f"expected step message {self.num_received}, found {number}: "
                               f"rank 0 wrote again before this worker had read")
        return pickle.loads(self.shm.buf[_HEADER.size:_HEADER.size + n])
