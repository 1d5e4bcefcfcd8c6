"""PostgreSQL: the schema's migrations and the call store (asyncpg)."""
