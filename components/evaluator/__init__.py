"""evaluator: metrics, figures, TensorBoard summaries and projector files of a finished run."""
