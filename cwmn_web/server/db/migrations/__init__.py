"""The schema's Alembic migrations (``versions/``), run by :mod:`..migrate`."""
