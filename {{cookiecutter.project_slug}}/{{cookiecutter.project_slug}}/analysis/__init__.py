"""The checklist's judgment on finished runs: the diagnosis of one run (rules.py, from its curves in
curves.py and its units in units.py) and the report of a sweep's runs (report.py)."""
