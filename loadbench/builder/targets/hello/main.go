// hello: the smallest Go program. Its cost is the Go runtime's own start-up.
package main

import "os"

func main() {
	os.Exit(0)
}
