// cgo: imports "C", so the binary is dynamically linked against libc and ld.so runs first.
package main

/*
static int answer(void) { return 0; }
*/
import "C"

import "os"

func main() {
	os.Exit(int(C.answer()))
}
