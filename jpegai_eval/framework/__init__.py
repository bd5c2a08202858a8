"""The framework: hook specs, base types, registries, plugin manager, evaluator."""
