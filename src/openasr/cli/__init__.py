"""The `openasr` command line."""
