"""A teacher's workflow: ``fedjava grade`` a class into a gradebook CSV, feedback pages and a summary.

submissions.py (find and read each student's file; lms.py reads Canvas's and Moodle's download names) -> the shared
review path (:mod:`fedjava.reviewer`, with tests_table.py's table of the task's tests) -> rubric.py (points: the
verdict, the tests passed, the errors the tools confirm) -> outputs.py: feedback.py (one page per student) +
gradebook.py (grades.csv, grades_detail.csv) + summary.py (with similarity.py's very similar pairs and kinds.py's
error names), kept in an output folder by store.py (results, review states, the teacher's edits); grade.py runs
it, command.py is the CLI.
"""
