"""Run safety and environment: checkpoints, preemption, the run folder and its lock and record, sharding, precision,
recipe checks and the Hub. Imports no method."""
