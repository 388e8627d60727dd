"""A two-way bridge to lm-evaluation-harness (decoder LMs, prompted k-shot) — see ``naming`` for the contract.

- ``export``: the catalogue's targets × splits × languages as an lm-eval task folder (data beside the YAMLs);
- ``importer``: lm-eval's results JSON and ``--log_samples`` JSONL → records with per-example predictions;
- ``evaluate``: ``harness eval-lm``, lm-eval in process on the exported tasks, imported as each finishes.
"""
