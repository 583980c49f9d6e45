"""GenoCat engine benchmarks: ``python -m bench [--quick] [--only NAME]``.

Speed is measured here and only here (never in unit tests). The machine these
run on is shared and noisy, so every number is the median of repeated runs
(p99 for latencies) and every benchmark measures a reference side by side in
the same run, reported as a ratio. See ``BENCHMARKS.md``.
"""

from genocat_desktop.engine.core.process import configure_process

# Every benchmark process (the harness and each ``python -m bench.X`` child) starts as the app's
# fronts do, so that the numbers measure the app's settings.
configure_process()
