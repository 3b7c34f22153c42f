module loadbench.local/lookup

go 1.21
