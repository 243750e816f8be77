"""Actors and the handlers they call; the slow network work lives here."""
