"""Voice activity detection and the packing of speech into recognition chunks."""
