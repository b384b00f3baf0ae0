"""The quick job of the load run: appends ``<job id> <attempt> <worker id>`` to the shared
ledger (one O_APPEND write, so concurrent jobs never interleave a line) and exits 0.

Run as ``python -S -I load_job.py LEDGER JOB_ID ATTEMPT WORKER_ID``: nothing but the standard
library, so thousands of them cost interpreter start-up only.
"""

import os
import sys


def main() -> int:
    ledger, job_id, attempt, worker_id = sys.argv[1:5]
    fd = os.open(ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{job_id} {attempt} {worker_id}\n".encode())
    finally:
        os.close(fd)
    return 0


if __name__ == "__main__":
    sys.exit(main())
