"""Pure model and rules of detente: no I/O, no ORM, no web framework.

Nothing in this package imports another detente package.
"""
