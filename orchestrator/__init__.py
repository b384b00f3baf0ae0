"""orchestrator: ablation specs, the durable job queue, GPU-slot workers, MLflow tracking."""
