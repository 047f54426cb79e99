"""Namers: configured service discovery behind /#/<prefix>."""
