"""The Kivy app for metro kiosks, passengers' phones and volunteers (one code base, three modes)."""

__version__ = "0.1.0"
