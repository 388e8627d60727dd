"""Bridges to other evaluation tools: the harness's tasks and results in their formats, and back."""
