"""The browser edge: the only package that imports ``js`` / ``pyodide``. Runs in a Web Worker."""
