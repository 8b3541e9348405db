"""The doctor tests' trees: the example tree with the test module's ``spec`` applied, shared with
the setup tests (tests/example_tree.py)."""

from example_tree import applied, root

__all__ = ["applied", "root"]
