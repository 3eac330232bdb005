"""Framework adapters, installed as ``parity.backends`` (one module per framework)."""

if __name__ != "parity.backends":
    raise ImportError("import the adapters as parity.backends, not as a top-level 'backends'")
