"""nnconform: the distribution's own namespace.

``nnconform.schema`` (the results schema and its vocabularies) and ``nnconform.atomic`` (atomic file
writes) are the small modules at the bottom of the layering that every package (spec, impls,
conformance, reports, benchmarks) may import. ``nnconform.cli`` is the top: the ``nnconform``
command, the one module that orchestrates run, report, bench and backends. This file imports neither.
"""

__version__ = "0.2.0"
