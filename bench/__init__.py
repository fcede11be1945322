"""Benchmarks of PM Coach against baselines measured in the same run: `make bench`.

Everything runs on loopback: private redis-server processes on free ports (never 6379), a fake
Slack in its own process, the servers under test in their own processes. See `bench.__main__`.
"""
