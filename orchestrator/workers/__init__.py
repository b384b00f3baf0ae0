"""Workers: ``slots`` (GPUs or CPU slots), ``supervision`` (the claim loop and one job subprocess
per slot), ``outcomes`` (exit status -> queue state), ``job`` (the job process itself)."""
