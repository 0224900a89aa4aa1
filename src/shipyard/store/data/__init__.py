"""Persistence of dataset versions and of the runs that used them."""
