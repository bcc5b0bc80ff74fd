"""Text and result post-processing: ITN, script conversion, sentence building and output formats."""
