"""loadbench: measure what it costs an operating system to load and start a binary.

Kept import-free on purpose: the launcher imports this package, and every import here would be
paid by every measurement session.
"""

__version__ = "0.1.0"
