module loadbench.local/probecheck

go 1.21
