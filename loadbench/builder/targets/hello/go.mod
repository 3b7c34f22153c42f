module loadbench.local/hello

go 1.21
