"""Benchmarks of the pipeline, each figure beside a reference measured in the same run.

`scripts/bench` (or `python -m bench`) runs them and writes bench/results.json; docs/performance.md
explains the figures. Nothing here asserts a timing: the smoke test checks structure only.
"""
