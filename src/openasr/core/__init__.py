"""L0 vocabulary shared by every layer: plain data types, options and the error tree."""
