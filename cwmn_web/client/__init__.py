"""The host side as plain Python: states, events, API validation, session control. No `js`."""
