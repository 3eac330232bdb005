"""Packages for setuptools: every package under parity/, plus backends/ shipped as parity.backends.

pyproject.toml holds all other metadata; only the package list is computed here, so a new
subpackage (parity/align/, parity/render/, ...) can never be left out of the wheel.
"""

from setuptools import find_packages, setup

CORE = find_packages(include=["parity", "parity.*"])
ADAPTERS = ["parity." + name for name in find_packages(include=["backends", "backends.*"])]

setup(packages=CORE + ADAPTERS)
