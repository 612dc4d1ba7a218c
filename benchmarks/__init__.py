"""Benchmarks for pixverse-ui: every figure is a ratio against a baseline measured in the same run.

``python -m benchmarks`` (or ``make bench``) runs them all on the simulator and prints one table;
``--quick`` uses fewer repeats and jobs, ``--only NAME`` runs one benchmark (repeatable) and
``--save`` also writes the table into ``benchmarks/RESULTS.md``. The benchmarks are
:mod:`.polling`, :mod:`.concurrency`, :mod:`.startup`, :mod:`.download` and :mod:`.render`;
:mod:`.common` holds the table row and the timing helpers they share. Nothing here is a test:
``make test`` asserts no speed.
"""
