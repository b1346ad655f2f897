"""Pure domain rules of flashstock: standard library only, no I/O."""
