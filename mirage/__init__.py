"""`python -m mirage up`: the engine and the Discord bot on one box, as supervised child processes."""
