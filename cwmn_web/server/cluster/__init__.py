"""Many server processes serving the same sessions (docs/DESIGN.md, "Many processes"): each
session's room has one owner process (a lease in the database); a socket that reaches
another process is piped to the owner through Redis."""
