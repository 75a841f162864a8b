"""Support modules for nnconform's own tests (not collected: no ``test_*`` names here).

Import them as ``helpers.<module>`` with ``tests/`` on ``sys.path`` (pytest's default
``prepend`` import mode puts it there; tests that build ``"module:attr"`` strings add it
explicitly so they also work under ``--import-mode=importlib``).
"""
