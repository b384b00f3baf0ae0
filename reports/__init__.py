"""reports: tables (AblationStudies.md) and plots regenerated from MLflow alone; import of the
reference logs."""
