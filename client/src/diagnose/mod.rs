//! Diagnosis without credentials: findings from the engine's probes, verdicts per cause.
