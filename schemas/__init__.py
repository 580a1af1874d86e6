"""The wire contract: msgspec Structs of our API. Imports nothing from the project."""
