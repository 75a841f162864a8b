"""nnconform: the distribution's own namespace.

``nnconform.schema`` is the small module at the bottom of the layering that every package
(spec, impls, conformance, reports, benchmarks) may import: the results schema and its vocabularies.
"""

__version__ = "0.2.0"
