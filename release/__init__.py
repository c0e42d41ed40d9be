"""Validation and release harness for a monorepo of Kamiwaza extensions.

Every rule lives in exactly one module of this package; `checks/` (pytest) and the
command line (`python -m release`) only call into it.
"""
