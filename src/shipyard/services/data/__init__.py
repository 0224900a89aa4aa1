"""Dataset versioning: content-addressed versions of files, folders and tables."""
