"""Rollout backends: where the environments of a rollout run.

``sync`` runs one :class:`~wrappers.env_host.EnvHost` in this process; ``process`` runs one per worker
process on this machine (``multiprocessing``, spawn start method); ``ray`` runs one per Ray actor, locally
or on a cluster. All offer the same calls: ``submit(worker, method, *args)`` and ``wait(handle)``. A worker
that dies or stops answering raises :class:`WorkerCrashed`; ``restart(worker)`` replaces it.
"""

from __future__ import annotations

import multiprocessing as mp
import multiprocessing.process
import os
import sys
import traceback
from typing import Any

from wrappers.env_host import EnvHost

__all__ = [
    "BACKENDS",
    "EnvError",
    "MainModuleNotGuarded",
    "ProcessBackend",
    "RayBackend",
    "SyncBackend",
    "WorkerCrashed",
    "make_backend",
]

#: Exit status of a worker that found itself re-running the caller's unguarded main module.
_UNGUARDED_MAIN_EXIT = 86


class WorkerCrashed(RuntimeError):
    """A worker died or did not answer in time; its environments are lost (the caller can rebuild them)."""

    def __init__(self, worker: int, reason: str) -> None:
        super().__init__(f"rollout worker {worker} crashed: {reason}")
        self.worker = worker
        self.reason = reason


class EnvError(RuntimeError):
    """An environment raised inside a worker (the worker itself is fine)."""


class MainModuleNotGuarded(RuntimeError):
    """The process backend was started from a script whose rollout code is not under a main guard.

    The ``spawn`` start method imports the caller's main module in every worker; a script that calls
    ``collect_groups(..., backend="process")`` at module level would start workers from its workers.
    Restarting cannot help, so this is raised at once instead of :class:`WorkerCrashed`.
    """

    def __init__(self) -> None:
        super().__init__(
            "the process backend's workers re-ran your script's top-level code: put the code that calls "
            "collect_groups(..., backend='process') under `if __name__ == \"__main__\":` (the spawn start "
            "method imports the main module in every worker), or use backend='sync'"
        )


def _bootstrapping_worker() -> bool:
    """True inside a spawned worker that is still importing its parent's main module."""
    return bool(getattr(multiprocessing.process.current_process(), "_inheriting", False))


class SyncBackend:
    """Everything in this process: one host, no transport."""

    name = "sync"

    def __init__(self, n_workers: int = 1, timeout: float | None = None) -> None:
        self.n_workers = 1
        self._host = EnvHost()

    def submit(self, worker: int, method: str, *args: Any) -> Any:
        try:
            return ("ok", getattr(self._host, method)(*args))
        except Exception as exc:  # an environment error: report it the same way as the other backends
            return ("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}")

    def wait(self, handle: Any) -> Any:
        status, value = handle
        if status == "error":
            raise EnvError(value)
        return value

    def restart(self, worker: int) -> None:
        self._host.close()
        self._host = EnvHost()

    def close(self) -> None:
        self._host.close()


def _process_main(conn: Any) -> None:
    host = EnvHost()
    while True:
        try:
            method, args = conn.recv()
        except (EOFError, OSError):
            break
        try:
            conn.send(("ok", getattr(host, method)(*args)))
        except Exception as exc:
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}"))
        if method == "close":
            break
    host.close()


class ProcessBackend:
    """One worker process per host, talking over a pipe.

    Args:
        n_workers: number of processes (default: the number of CPUs).
        timeout: seconds to wait for an answer before declaring the worker hung (None: wait forever).
        start_method: ``spawn`` (default; safe with threads) or ``forkserver`` / ``fork``.
    """

    name = "process"

    def __init__(self, n_workers: int | None = None, timeout: float | None = 600.0, start_method: str = "spawn") -> None:
        if _bootstrapping_worker():
            # we are a worker re-running an unguarded script: leave with a status the parent recognises
            sys.stderr.flush()
            os._exit(_UNGUARDED_MAIN_EXIT)
        self.n_workers = max(1, n_workers or os.cpu_count() or 1)
        self.timeout = timeout
        self._ctx = mp.get_context(start_method)
        self._procs: list[Any] = [None] * self.n_workers
        self._conns: list[Any] = [None] * self.n_workers
        for w in range(self.n_workers):
            self._start(w)
        for w in range(self.n_workers):
            self.wait(self.submit(w, "ping"))  # surfaces a failed start here, before any environment is built

    def _start(self, worker: int) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_process_main, args=(child,), daemon=True, name=f"hgpo-rollout-{worker}")
        proc.start()
        child.close()  # so that the worker's death closes the pipe and recv() fails instead of hanging
        self._procs[worker], self._conns[worker] = proc, parent

    def _raise_if_unguarded(self, worker: int) -> None:
        proc = self._procs[worker]
        proc.join(timeout=1.0)
        if proc.exitcode == _UNGUARDED_MAIN_EXIT:
            self.close()
            raise MainModuleNotGuarded()

    def submit(self, worker: int, method: str, *args: Any) -> Any:
        try:
            self._conns[worker].send((method, args))
        except (BrokenPipeError, OSError) as exc:
            self._raise_if_unguarded(worker)
            return ("crashed", worker, f"pipe closed ({exc}); {self._exit_status(worker)}")
        return ("sent", worker, None)

    def _exit_status(self, worker: int) -> str:
        proc = self._procs[worker]
        proc.join(timeout=1.0)
        code = proc.exitcode
        if code is None:
            return f"pid {proc.pid} still running"
        return f"pid {proc.pid} exited with code {code}"

    def wait(self, handle: Any) -> Any:
        kind, worker, reason = handle
        if kind == "crashed":
            raise WorkerCrashed(worker, reason)
        conn = self._conns[worker]
        try:
            if not conn.poll(self.timeout):
                self._procs[worker].kill()
                raise WorkerCrashed(worker, f"no answer within {self.timeout} s (killed pid {self._procs[worker].pid})")
            status, value = conn.recv()
        except (EOFError, OSError) as exc:
            self._raise_if_unguarded(worker)
            raise WorkerCrashed(worker, f"{type(exc).__name__}; {self._exit_status(worker)}") from None
        if status == "error":
            raise EnvError(value)
        return value

    def restart(self, worker: int) -> None:
        proc = self._procs[worker]
        if proc is not None and proc.is_alive():
            proc.kill()
            proc.join(timeout=5)
        self._conns[worker].close()
        self._start(worker)

    def close(self) -> None:
        for w in range(self.n_workers):
            proc, conn = self._procs[w], self._conns[w]
            try:
                if proc.is_alive():
                    conn.send(("close", ()))
                    if conn.poll(10):
                        conn.recv()
            except (OSError, EOFError):
                pass
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
            conn.close()


class RayBackend:
    """One Ray actor per host. Uses the running Ray instance, or starts a local one.

    Args:
        n_workers: number of actors (default: the CPUs Ray reports, at most 8).
        timeout: seconds to wait for an answer before declaring the actor hung.
        num_cpus: CPUs reserved per actor (default 1).
    """

    name = "ray"

    def __init__(self, n_workers: int | None = None, timeout: float | None = 600.0, num_cpus: float = 1.0) -> None:
        try:
            import ray
        except ImportError:
            raise ImportError("the ray backend needs Ray: pip install 'hgpo[ray]'") from None
        self._ray = ray
        if not ray.is_initialized():
            ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False)
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.n_workers = max(1, n_workers or min(cpus, 8))
        self.timeout = timeout
        self._actor_cls = ray.remote(num_cpus=num_cpus, max_restarts=0)(EnvHost)
        self._actors: list[Any] = [self._actor_cls.remote() for _ in range(self.n_workers)]

    def submit(self, worker: int, method: str, *args: Any) -> Any:
        return (worker, getattr(self._actors[worker], method).remote(*args))

    def wait(self, handle: Any) -> Any:
        worker, ref = handle
        ray = self._ray
        try:
            return ray.get(ref, timeout=self.timeout)
        except ray.exceptions.GetTimeoutError:
            ray.kill(self._actors[worker])
            raise WorkerCrashed(worker, f"no answer within {self.timeout} s (actor killed)") from None
        except ray.exceptions.RayActorError as exc:
            raise WorkerCrashed(worker, f"actor died ({str(exc).splitlines()[0]})") from None
        except ray.exceptions.RayTaskError as exc:
            raise EnvError(str(exc)) from None

    def restart(self, worker: int) -> None:
        try:
            self._ray.kill(self._actors[worker])
        except Exception:  # already dead
            pass
        self._actors[worker] = self._actor_cls.remote()

    def close(self) -> None:
        for actor in self._actors:
            try:
                self._ray.get(actor.close.remote(), timeout=30)
                self._ray.kill(actor)
            except Exception:  # a dead actor has nothing to close
                pass


BACKENDS = {"sync": SyncBackend, "process": ProcessBackend, "ray": RayBackend}


def make_backend(name: str, n_workers: int | None = None, timeout: float | None = 600.0) -> Any:
    try:
        cls = BACKENDS[name]
    except KeyError:
        raise ValueError(f"unknown backend {name!r} (choose from {', '.join(BACKENDS)})") from None
    return cls(n_workers=n_workers, timeout=timeout)
