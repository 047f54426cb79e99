"""Routing decisions: identification and the error responder (pure)."""
