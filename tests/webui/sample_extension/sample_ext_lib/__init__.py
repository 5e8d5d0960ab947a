"""Helper package of the sample extension, imported at script load (extension root on sys.path)."""

VALUE = 42
