"""Alembic migrations of the bot's database (run by `bot.store.schema.upgrade_to_head`)."""
