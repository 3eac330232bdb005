"""Renderers of a :class:`~parity.report.Report`, one module per format.

``text`` (terminal), ``markdown``, ``json``, ``html`` and ``failure`` (the ``AssertionError``
message); ``summary`` holds the pieces they share.
"""
