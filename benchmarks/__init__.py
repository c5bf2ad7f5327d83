"""Benchmarks: figures, not tests. Run each as a module from the repo root: python -m benchmarks.bench_x"""
