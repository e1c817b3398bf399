"""Debug only (session 8): trace every all_reduce of aios, and when a process's calls stall,
read its P2P state (epochs, own flags, status) through a side stream. On when AIOS_TRACE_DIR is set."""
import os

if os.environ.get("AIOS_P2P_TILE"):
    import aios.utils.p2p as _dt
    _dt.P2PAllReduce.RMS_NORM_TILE = int(os.environ["AIOS_P2P_TILE"])

if os.environ.get("AIOS_P2P_CHUNKED") == "0":
    import aios.utils.p2p as _dc
    _dc.P2PAllReduce.CHUNKED = False

if os.environ.get("AIOS_P2P_MIN_SLOT"):
    import aios.utils.p2p as _ds
    _ds.P2PAllReduce.MIN_SLOT_NUMEL = int(os.environ["AIOS_P2P_MIN_SLOT"])

if os.environ.get("AIOS_P2P_FUSE") == "0":
    import aios.utils.p2p as _d0
    _d0.P2PAllReduce.FUSE_RMS_NORM = False

if os.environ.get("AIOS_P2P_PROGRAMS") or os.environ.get("AIOS_P2P_BLOCK"):
    import aios.utils.p2p as _d
    if os.environ.get("AIOS_P2P_PROGRAMS"):
        _d.P2PAllReduce.MAX_PROGRAMS = int(os.environ["AIOS_P2P_PROGRAMS"])
    if os.environ.get("AIOS_P2P_BLOCK"):
        _d.P2PAllReduce.BLOCK = int(os.environ["AIOS_P2P_BLOCK"])

if os.environ.get("AIOS_TRACE_DIR"):
    import threading
    import time

    import torch
    import aios.utils.distributed as d

    progs = os.environ.get("AIOS_TRACE_PROGRAMS")
    if progs:
        d.P2PAllReduce.MAX_PROGRAMS = int(progs)
    _orig = d.all_reduce
    state = {"n": 0, "last": time.time(), "f": None, "pinned": None, "dumped": 0}
    lock = threading.Lock()

    def _log(line):
        if state["f"] is None:
            path = os.path.join(os.environ["AIOS_TRACE_DIR"], f"trace-{os.getpid()}.log")
            state["f"] = open(path, "a", buffering=1)
        state["f"].write(f"{time.time():.3f} {line}\n")

    def traced(x):
        p2p = d._p2p
        cap = torch.cuda.is_current_stream_capturing()
        if p2p is not None and state["pinned"] is None and not cap:
            n = p2p.MAX_PROGRAMS * d.get_tp_size()
            state["pinned"] = [torch.empty(n, dtype=torch.int32, pin_memory=True) for _ in range(3)]
        with lock:
            state["n"] += 1
            state["last"] = time.time()
            if state["n"] <= 4000:
                fits = p2p is not None and p2p.fits(x)
                _log(f"rank={d.get_tp_rank()} call={state['n']} numel={x.numel()} {x.dtype} "
                     f"p2p={fits} capturing={cap} stream={torch.cuda.current_stream().cuda_stream}")
        return _orig(x)

    d.all_reduce = traced
    import sys
    for _m in list(sys.modules.values()):   # modules that bound the original at import
        if getattr(_m, "all_reduce", None) is _orig:
            _m.all_reduce = traced

    def watch():
        while True:
            time.sleep(5)
            p2p = d._p2p
            if p2p is None or state["pinned"] is None or state["dumped"] >= 3:
                continue
            if time.time() - state["last"] < 25:
                continue
            state["dumped"] += 1
            try:
                s = torch.cuda.Stream(p2p.device)
                e, f, st = state["pinned"]
                with torch.inference_mode(), torch.cuda.stream(s):
                    e[:p2p.programs].copy_(p2p.epochs[:p2p.programs], non_blocking=True)
                    f.copy_(p2p.flags, non_blocking=True)
                    st[:1].copy_(p2p.status, non_blocking=True)
                t0 = time.time()
                while not s.query() and time.time() - t0 < 10:
                    time.sleep(0.1)
                ok = s.query()
                ep = e[:p2p.programs].tolist()
                fl = f.view(-1, d.get_tp_size())[:p2p.programs].tolist()
                _log(f"STALL rank={p2p.rank} calls={state['n']} copied={ok} status={int(st[0])} "
                     f"epochs(min,max)=({min(ep)},{max(ep)}) epochs={ep[:8]}... flags[:8]={fl[:8]} "
                     f"programs_behind={[i for i in range(p2p.programs) if ep[i] != ep[0]][:20]}")
                _log("FLAGS " + " ".join(f"{i}:{ep[i]}/{fl[i]}" for i in range(p2p.programs)))
            except Exception as exc:  # noqa: BLE001
                _log(f"STALL read failed: {exc!r}")

    threading.Thread(target=watch, daemon=True, name="trace-watch").start()
