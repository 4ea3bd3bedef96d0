"""One module per revision, oldest first (``v0001_…``); never edit one that shipped."""
