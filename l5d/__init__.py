"""l5d: a node-local service-mesh router in the style of Linkerd 1.x."""
