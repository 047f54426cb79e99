"""Parse one router block of a linkerd.yaml (shared by the policy config tests)."""

from __future__ import annotations

import json
import textwrap

from l5d.config import RouterConfig, parse_config

HEAD = "routers:\n- protocol: http\n  servers: [{}]\n"  # the block below starts on line 4


def router(block: str) -> RouterConfig:
    """The router of ``HEAD`` + ``block``, checked to survive a JSON round trip."""
    text = HEAD + textwrap.indent(textwrap.dedent(block), "  ")
    config = parse_config(text, "linkerd.yaml")
    assert parse_config(json.dumps(config.to_json())) == config  # round trip, always
    return config.routers[0]
