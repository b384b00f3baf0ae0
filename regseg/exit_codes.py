"""The exit-status convention of every regseg command and of the training job process.

0 success; 1 a runtime failure; 2 bad usage or bad input (nothing was changed); 75
(EX_TEMPFAIL in sysexits.h) interrupted and resumable: a stopped training wrote its checkpoint
and a later attempt continues it, so the worker requeues such a job without counting a failure.
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 75
