"""l5d's worker processes and the control process that gathers them."""
