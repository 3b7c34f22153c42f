module loadbench.local/cgo

go 1.21
