"""The release number, in its own module so that every wing can read it without importing the package face."""

__version__ = "0.1.0"
