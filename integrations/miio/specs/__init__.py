"""Bundled compact MIoT spec files (data); ``_compact`` regenerates them."""
