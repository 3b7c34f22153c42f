module loadbench.local/web

go 1.21
