"""The rules of the bot's games as pure values and functions: no Discord, no database, tested alone."""
