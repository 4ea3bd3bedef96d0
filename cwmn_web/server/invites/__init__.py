"""Email and SMS invites to guests (``guest.inviteGuest``): checking, composing, limiting,
sending (SMTP, Twilio, or the development outbox) and recording. docs/LIVE.md, "Invites".

The modules without I/O: :mod:`.checks`, :mod:`.phones`, :mod:`.compose`, :mod:`.limits`.
"""
