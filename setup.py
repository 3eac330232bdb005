"""Packages for setuptools: every package under parity/, plus backends/ shipped as parity.backends,
and the C metrics kernel (parity/_metrics_kernel.c, plain Python C API: no numpy headers).

pyproject.toml holds all other metadata; only the package list is computed here, so a new
subpackage (parity/align/, parity/render/, ...) can never be left out of the wheel.
"""

from setuptools import Extension, find_packages, setup

CORE = find_packages(include=["parity", "parity.*"])
ADAPTERS = ["parity." + name for name in find_packages(include=["backends", "backends.*"])]

KERNEL = Extension("parity._metrics_kernel", ["parity/_metrics_kernel.c"])

setup(packages=CORE + ADAPTERS, ext_modules=[KERNEL])
