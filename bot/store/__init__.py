"""The bot's database (placeholder docstring; the API is documented once the query modules exist)."""
