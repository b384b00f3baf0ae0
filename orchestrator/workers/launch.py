"""Starting a slot's job processes: freshly spawned, or handed to a pre-started one.

A fresh job is ``python -m orchestrator.workers.job ARGS`` (stdout and stderr to its job log,
stdin /dev/null, its own session). With pre-starting on, the slot keeps one *standby*
(orchestrator/workers/standby.py): an interpreter with the job's imports done, started with the
environment and working directory the next job will have. Launching a job hands the standby the
job's arguments over its stdin, and the standby becomes the job; without a fitting standby (none
yet, it died, another working directory) the job is spawned fresh. Either way the caller gets
a ``subprocess.Popen`` of the job process: its exit status, signals and pid mean exactly what
they mean for a fresh one.

Both kinds get the write end of a report pipe (``--report-fd N``, see first_iteration.py); the
worker reads the first-iteration time from the read end.

No orphans: a standby dies with its worker (PR_SET_PDEATHSIG on the worker thread that started
it, and the end of its stdin), and :meth:`Launcher.close` stops an unused one when the slot ends.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

log = logging.getLogger("orchestrator.workers")

JOB_MODULE = "orchestrator.workers.job"
STANDBY_MODULE = "orchestrator.workers.standby"
STOP_TIMEOUT_S = 5.0  # an unused standby exits at the end of its stdin; then SIGKILL


@dataclass
class JobProcess:
    """A launched job: its process, the read end of its report pipe (None: no report), and
    whether it ran in a pre-started interpreter (``spawned_at``: when that process started)."""

    proc: subprocess.Popen
    report_fd: int | None
    prestarted: bool
    spawned_at: float = field(default_factory=time.monotonic)


@dataclass
class _Standby:
    proc: subprocess.Popen
    report_read: int
    report_fd_number: int  # the write end's number in the standby (pass_fds keeps numbers)
    prelog: Path
    env: dict[str, str]
    cwd: str | None
    spawned_at: float


class Launcher:
    """One slot's job processes. ``prestart``: keep a standby for the next job."""

    def __init__(self, *, state_dir: Path, name: str, prestart: bool = True,
                 python: str = sys.executable) -> None:
        self.python = python
        self.prestart_enabled = prestart
        self.folder = state_dir / "standby"
        self.name = name
        self._standby: _Standby | None = None
        self._count = 0

    # ---- launching ----------------------------------------------------------------------
    def launch(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None, log_path: Path,
               report: bool = True) -> JobProcess:
        """Start the job ``argv`` (a fresh job's full command line). ``report``: add
        ``--report-fd`` (only the real job module understands it)."""
        standby, self._standby = self._standby, None
        if standby is not None:
            launched = self._hand_off(standby, argv, env=env, cwd=cwd, log_path=log_path)
            if launched is not None:
                return launched
        return self._spawn(argv, env=env, cwd=cwd, log_path=log_path, report=report)

    def _spawn(self, argv: list[str], *, env: Mapping[str, str], cwd: str | None,
               log_path: Path, report: bool) -> JobProcess:
        read_fd, write_fd = os.pipe() if report else (None, None)
        args = [*argv, "--report-fd", str(write_fd)] if report else list(argv)
        try:
            with open(log_path, "ab") as out:
                proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, env=dict(env),
                                        cwd=cwd, stdin=subprocess.DEVNULL, start_new_session=True,
                                        pass_fds=() if write_fd is None else (write_fd,))
        except OSError:
            _close(read_fd)
            raise
        finally:
            _close(write_fd)
        return JobProcess(proc=proc, report_fd=read_fd, prestarted=False)

    def _hand_off(self, standby: _Standby, argv: list[str], *, env: Mapping[str, str],
                  cwd: str | None, log_path: Path) -> JobProcess | None:
        """Give the job to ``standby``; None when it cannot take it (then it is stopped)."""
        fits = (argv[1:3] == ["-m", JOB_MODULE] and argv[0] == self.python
                and dict(env) == standby.env and cwd == standby.cwd)
        if not fits or standby.proc.poll() is not None:
            self._stop(standby)
            return None
        order = {"argv": [*argv[3:], "--report-fd", str(standby.report_fd_number)],
                 "log": str(log_path)}
        try:
            standby.proc.stdin.write((json.dumps(order) + "\n").encode())
            standby.proc.stdin.close()
        except OSError:  # it died meanwhile: spawn the job fresh
            self._stop(standby)
            return None
        return JobProcess(proc=standby.proc, report_fd=standby.report_read, prestarted=True,
                          spawned_at=standby.spawned_at)

    # ---- the standby ----------------------------------------------------------------------
    @property
    def has_standby(self) -> bool:
        return self._standby is not None

    def prestart(self, *, env: Mapping[str, str], cwd: str | None, db: str | None = None,
                 tracking_uri: str | None = None) -> None:
        """Start the standby for the next job (no-op when off or one is there already); it opens
        the queue store ``db`` and the MLflow store ``tracking_uri`` ahead of the job."""
        if not self.prestart_enabled or self._standby is not None:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        self._count += 1
        prelog = self.folder / f"{os.getpid()}-{self.name}-{self._count}.log"
        read_fd, write_fd = os.pipe()
        argv = [self.python, "-m", STANDBY_MODULE, "--worker-pid", str(os.getpid()),
                "--prelog", str(prelog)]
        argv += ["--db", db] if db else []
        argv += ["--tracking-uri", tracking_uri] if tracking_uri else []
        try:
            with open(prelog, "wb") as out:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out,
                                        stderr=subprocess.STDOUT, env=dict(env), cwd=cwd,
                                        start_new_session=True, pass_fds=(write_fd,))
        except OSError as exc:
            _close(read_fd)
            log.warning("slot %s: could not pre-start the next job's process: %s", self.name,
                        exc)
            return
        finally:
            _close(write_fd)  # only the standby holds the write end (EOF when it exits)
        self._standby = _Standby(proc=proc, report_read=read_fd, report_fd_number=write_fd,
                                 prelog=prelog, env=dict(env), cwd=cwd,
                                 spawned_at=time.monotonic())

    def close(self) -> None:
        """Stop the unused standby, if any (the slot is ending)."""
        standby, self._standby = self._standby, None
        if standby is not None:
            self._stop(standby)

    def _stop(self, standby: _Standby) -> None:
        proc = standby.proc
        try:
            proc.stdin.close()  # end of stdin: it leaves at once
        except OSError:
            pass
        try:
            proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _close(standby.report_read)
        try:
            standby.prelog.unlink()
        except OSError:
            pass


def _close(fd: int | None) -> None:
    if fd is not None:
        try:
            os.close(fd)
        except OSError:
            pass
