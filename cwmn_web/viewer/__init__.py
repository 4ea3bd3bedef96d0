"""The guest side as plain Python: frame sanitizing and the guest session. No `js`."""
