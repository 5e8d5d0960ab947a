"""Imported lazily by the sample script at generation time; A1111 no longer has the root on sys.path."""
