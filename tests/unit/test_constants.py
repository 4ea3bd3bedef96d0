"""The shared constants: the JavaScript copies build.py writes hold the Python values, and the
Python modules that need them use the one module."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from cwmn_web.client import controller, mirror
from cwmn_web.protocol import constants
from cwmn_web.viewer import sanitize

NODE_JS = shutil.which("node")

#: Prints the values of the ES module (argv[1]) and of the classic script (argv[2]) as JSON.
READ_JS = """
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
const [mjs, js] = process.argv.slice(1);
const module = { ...(await import(pathToFileURL(mjs).href)) };
const script = new Function(readFileSync(js, 'utf8') + '; return CWMN_CONSTANTS;')();
console.log(JSON.stringify({ module, script }));
"""


@pytest.mark.skipif(NODE_JS is None, reason="Node is not installed")
def test_the_generated_javascript_holds_the_python_values(tmp_path: Path) -> None:
    mjs, js = tmp_path / "constants.mjs", tmp_path / "constants.js"
    mjs.write_text(constants.js_module())
    js.write_text(constants.js_script())
    assert NODE_JS is not None
    command = [NODE_JS, "--input-type=module", "-e", READ_JS, "--", str(mjs), str(js)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    read = json.loads(out)
    expected = json.loads(json.dumps(constants.js_values()))
    assert read["module"] == expected
    assert read["script"] == expected
    assert set(read["module"]["URL_ATTRS"]) == constants.URL_ATTRS
    assert read["module"]["NODE"] == {"ELEMENT": 1, "TEXT": 3, "COMMENT": 8, "SHADOW": 11}


def test_the_python_modules_use_the_one_copy() -> None:
    assert vars(mirror)["URL_ATTRS"] is constants.URL_ATTRS  # imported, not re-exported
    assert sanitize.URL_ATTRS is constants.URL_ATTRS
    assert vars(sanitize)["HTML_NS"] is constants.HTML_NS
    assert (sanitize.ELEMENT, sanitize.TEXT, sanitize.COMMENT, sanitize.SHADOW) == (1, 3, 8, 11)
    assert controller.RESUME_KEY == constants.RESUME_KEY == "cwmn:session"


def test_the_url_attributes_are_the_full_set() -> None:
    # The sanitizer's 18; the encoder once had 14 (no classid, dynsrc, profile, icon).
    assert {"classid", "dynsrc", "profile", "icon", "href", "xlink:href"} <= constants.URL_ATTRS
    assert len(constants.URL_ATTRS) == 18


def test_the_encoder_resolves_every_url_attribute() -> None:
    encoder = mirror.MirrorEncoder("https://example.com/a/")
    for name in sorted(constants.URL_ATTRS):
        record = [1, 0, 1, "x", [name, "b.png"]]
        out = encoder.frame("snapshot", {"nodes": [record], "base": "https://example.com/a/"})
        assert out["nodes"][0][4] == [name, "https://example.com/a/b.png"], name
