"""trainer component: trains one ExperimentConfig on a built dataset into a resumable run directory."""
