"""Report formats: one module per output (markdown now; html, csv, pyperf, hyperfine later).

``tables`` computes the per-measurement rows every format shares, from raw samples each time.
"""
