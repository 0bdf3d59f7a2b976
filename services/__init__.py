"""rtad — real-time anomaly detection for bank card transactions.

Each container lives in ``services/<name>/`` and is the package ``rtad.<name>``;
``rtad.common`` holds the contracts every service imports.
"""

__version__ = "0.1.0"
