"""cwmn_web: a co-browsing SDK whose browser side is Python (Pyodide)."""

__version__ = "0.1.0"
__all__ = ["__version__"]
