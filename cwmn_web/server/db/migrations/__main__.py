"""``python -m cwmn_web.server.db.migrations revision "what changed"``: write the next
revision (:func:`cwmn_web.server.db.migrate.new_revision`)."""

from __future__ import annotations

import sys

from cwmn_web.server.db.migrate import new_revision

if len(sys.argv) != 3 or sys.argv[1] != "revision":
    sys.exit('usage: python -m cwmn_web.server.db.migrations revision "what changed"')
print(new_revision(sys.argv[2]))
