"""storelink's benchmarks: run them all with ``python bench/run.py``; figures go to ``bench/RESULTS.md``."""
