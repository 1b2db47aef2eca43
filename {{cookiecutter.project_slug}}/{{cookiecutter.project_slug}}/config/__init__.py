"""The command line: the declared flags, their parsing and checks, the resume and flag-reach policies,
environment probes. No torch is imported here."""
