"""An own, streaming decoder for the ETW trace (.etl) files that wpr writes, limited to what load
analysis needs: buffers (with [MS-XCA] XPRESS decompression), the trace header, the classic kernel
Process, Thread, Image and PageFault events and Microsoft-Windows-Kernel-Process start/stop, then a
per-process assembly (lifetime, image loads, faults) and an offline summary. Pure Python over bytes,
so it runs and is tested on every OS; every damaged input raises ``EtlError``.
"""

from loadbench.etl.errors import EtlError
from loadbench.etl.summarize import TraceSummary, render_text, summarize

__all__ = ["EtlError", "TraceSummary", "render_text", "summarize"]
