"""Benchmarks: every op x backend, forward and forward+VJP, timed fairly (``python -m benchmarks``).

One job per module:

=============  ===========================================================================================
``cases``      the cases: the op table's realistic cases (conformance/optable.py) plus the benchmark-only
               ones (a 1-D kernel-length sweep, the ops without realistic cases, the composite step, a small
               float64 tier that spec also runs), and the plain GEMM of the same size behind conv and dense
``loading``    loading backends by name (never raises: a failure is a record)
``threads``    the thread policy: threadpoolctl for every native pool, torch's own setting
``timing``     one measurement: warm-up, samples of about a millisecond, median and IQR
``runner``     timing a list of cases on loaded backends in this process (rows and skipped records)
``isolate``    the default: each backend timed in a process of its own (``python -m benchmarks.worker``)
``rounds``     several processes per backend (``--processes``) merged: median of the per-process medians
``table``      ratios, the text table, machine information
``cli``        ``main(argv)``: options, orchestration, bench.json
=============  ===========================================================================================
"""
