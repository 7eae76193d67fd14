"""A teacher's workflow: ``fedjava grade`` a class into a gradebook CSV, feedback pages and a summary.

submissions.py (find and read each student's file) -> the shared review path (:mod:`fedjava.reviewer`) ->
rubric.py (points) -> feedback.py (one page per student) + gradebook.py (grades.csv) + summary.py, kept in an
output folder by store.py (results, review states, the teacher's edits); grade.py runs it, command.py is the CLI.
"""
