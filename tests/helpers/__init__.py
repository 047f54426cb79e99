"""Test helpers: fakes standing in for real collaborators (checked against their interfaces)."""
