"""Helpers shared by the tests: generated data, fixtures, fuzzers, subprocess tools.

Test modules import from here, never from one another.
"""
