
from nnconform import packages as _packages

# Before any module of the suite imports spec or impls: a stray `spec.py` or `reports/` earlier on sys.path is
# named in one line instead of being imported in our place (nnconform/packages.py; DESIGN.md, "Import names").
_packages.check()
