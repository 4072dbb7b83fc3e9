"""Running runs: scheduling onto executors, driving live sessions, recovery."""
