"""The entry points: train (and --test-only), predict, export, prepare, sweeps. Thin: parse, build views, call below."""
