"""The flashstock command line."""
