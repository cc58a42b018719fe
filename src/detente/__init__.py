"""detente: a joint deconfliction mechanism as software."""

__version__ = "0.1.0"
