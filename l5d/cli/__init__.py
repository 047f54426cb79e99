"""Command-line tools of l5d (``l5d dtab ...``)."""
