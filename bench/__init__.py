"""Benchmarks. Each module exposes `run(quick=False) -> list[dict]` of ratio rows."""
