"""The HTTP layer: the Litestar app, thin controllers and the one table of problems."""
