"""Alembic migrations of detente's storage, shipped inside the package.

Run them with ``detente.adapters.storage.migrate.upgrade`` (``Store.migrate``);
no ``alembic.ini`` is needed.  This file makes the folder a package so that
``env.py`` is installed with the wheel.
"""
