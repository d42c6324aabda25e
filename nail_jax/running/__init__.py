"""Running trainings: the driver (``driver``), the run directory (``run_dir``), devices and
sharding (``parallel``), checkpoints, re-evaluation and plots of runs."""
