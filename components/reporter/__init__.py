"""reporter: the reproduction report (tables, figures, verdicts) of a directory of runs."""
