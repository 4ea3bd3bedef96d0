"""``python -m bench``: run every benchmark, print ratios, save JSON under bench/results/."""

from __future__ import annotations

import json
import platform
import time
from pathlib import Path

from . import capture, embed, latency

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    stamp = time.strftime("%Y-%m-%d")
    machine = f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip()
    out = {"date": stamp, "machine": machine}
    for name, module in (("embed", embed), ("capture", capture), ("latency", latency)):
        results = module.run()
        out[name] = results
        print("\n".join(module.report(results)), flush=True)
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"bench-{stamp}.json"
    path.write_text(json.dumps(out, indent=1))
    print(f"saved {path}")


if __name__ == "__main__":
    main()
