"""Zero-shot cross-lingual transfer harness for XTREME with intermediate-task training."""

__version__ = "0.1.0"
