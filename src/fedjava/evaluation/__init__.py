"""Evaluation of a Java error evaluator: answer parsing, exact metrics, the fix check, generation and runs.

See :mod:`fedjava.evaluation.metrics` for the metric definitions and the grading rubric.
"""
