"""Who sent SIGTERM: the W&B agent that started this run (a stop: Hyperband's early termination, "Stop"
in the UI) or anyone else (a scheduler preempting the job). Hand-written: neither Lightning nor wandb
tells them apart, and Python's signal handlers are not told the sender. So under an agent, SIGTERM is
blocked in every thread before any other starts, and a thread waits for it with sigwaitinfo, which
reports the sender's pid (the agent is the parent: it stops a run with Popen.terminate); the thread then
sends it again, unblocked for itself only, so the usual handler (Lightning's) runs on the main thread."""

import os
import signal
import threading

SENDERS: list[int] = []  # pid of each SIGTERM's sender, in order
_AGENT_PID: list[int] = []


def watch_sigterm() -> bool:
    """Record SIGTERM's senders (only before any thread starts); returns if it does. Children: unblock_inherited."""
    if not hasattr(signal, "sigwaitinfo") or threading.active_count() > 1 or _AGENT_PID:
        return False
    _AGENT_PID.append(os.getppid())  # read now: once the agent is gone the parent is init
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    threading.Thread(target=_wait, name="sigterm-sender", daemon=True).start()
    return True


def _wait() -> None:
    while True:
        info = signal.sigwaitinfo({signal.SIGTERM})
        SENDERS.append(info.si_pid)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})  # this thread only
        os.kill(os.getpid(), signal.SIGTERM)  # delivered here before kill returns: the handler runs
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})


def unblock_inherited() -> None:
    """A DDP rank inherits rank 0's blocked SIGTERM, yet Lightning's launcher stops ranks with it: unblock it."""
    if hasattr(signal, "pthread_sigmask") and not _AGENT_PID:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


def stopped_by_agent() -> bool | None:
    """After a SIGTERM: True if every one came from the agent (the parent), False if not (preemption), None: unknown."""
    return all(pid == _AGENT_PID[0] for pid in SENDERS) if _AGENT_PID and SENDERS else None
