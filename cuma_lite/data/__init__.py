"""Difficulty-controlled data: synthetic generators (``synthetic``) and file loading/validation (``io``)."""
