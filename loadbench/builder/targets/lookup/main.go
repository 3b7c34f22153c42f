// lookup: uses os/user and net's resolver, for the seed article's claim (its section 1) that
// CGO_ENABLED=0 disables packages such as os/user and net. It prints what it found, one
// "key: value" line each, and exits 1 if either lookup fails.
package main

import (
	"fmt"
	"net"
	"os"
	"os/user"
)

func main() {
	failed := false
	if u, err := user.Current(); err != nil {
		fmt.Println("user: error:", err)
		failed = true
	} else {
		fmt.Println("user:", u.Username, "uid", u.Uid)
	}
	if addrs, err := net.LookupHost("localhost"); err != nil {
		fmt.Println("localhost: error:", err)
		failed = true
	} else {
		fmt.Println("localhost:", addrs)
	}
	if failed {
		os.Exit(1)
	}
}
