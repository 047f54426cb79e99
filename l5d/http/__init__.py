"""HTTP/1.1 data path: strict parsing, forwarding, upstream pools."""
