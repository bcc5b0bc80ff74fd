"""Speech recognition engines behind one protocol, and the registry of model names."""
