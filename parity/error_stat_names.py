"""The names ``--error-stat`` accepts, importable without numpy (the CLI's ``--help``
loads no numerical code); what each means is :mod:`parity.verdict.statistic`."""

RMS, ELEMWISE, MAX, MEAN, MEDIAN, QUANTILE = "rms", "elemwise", "max", "mean", "median", \
    "quantile"
CHOICES = (RMS, ELEMWISE, MAX, MEAN, MEDIAN, QUANTILE)
