"""GPU benchmarks of the book's kernels: ``python -m swr_tutor.bench SUITE [--out FILE]``.

Each suite (``b2p``, ``simplicial``, ...) is a module here with ``run(quick: bool) -> list[Row]``. Timings are
medians of many runs (``triton.testing.do_bench``), every peer is measured in the same process, and each row is
related to a calibration measured in the same run (the copy roofline for memory-bound kernels, torch SDPA for
attention). Results go to stdout as a table and to ``book/data/*.json`` with the device and versions.
Speed is only ever measured on a GPU: on a machine without one the command refuses to run.
"""
