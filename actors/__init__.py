"""Ray actors of flashstock: thin holders of state that call the rules in ``policies``."""
