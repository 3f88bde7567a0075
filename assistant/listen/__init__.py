"""Hubs: where voice comes from and replies go back to.

``base`` is the hub-to-daemon contract; ``segmenter`` finds the end of speech;
``wyoming_server`` listens for Wyoming clients, ``satellites`` connects out to satellites, both
through ``wyoming_turn`` (one connection's turns); ``arbiter`` keeps one answer per wake word.
"""
