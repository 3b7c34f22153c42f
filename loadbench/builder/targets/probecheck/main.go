// probecheck: the program the probes' own tests launch, so that what a probe records can be
// checked against what the target did. Without arguments it exits 0 at once, like hello.
// Options, read in order:
//
//	-exit N          exit with code N
//	-sleep MS        sleep MS milliseconds, then go on
//	-spawn MS        start a copy of itself that sleeps MS milliseconds (not waited for), go on
//	-echo FILE ARG.. write {"args": [ARG..], "env": [the environment]} to FILE as UTF-8 JSON
//	                 (a file, not stdout: probes send stdout to the null device), exit 0
//
// Anything else exits with code 64.
package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"strconv"
	"time"
)

func number(args []string) int {
	if len(args) < 2 {
		os.Exit(64)
	}
	n, err := strconv.Atoi(args[1])
	if err != nil {
		os.Exit(64)
	}
	return n
}

func main() {
	args := os.Args[1:]
	for len(args) > 0 {
		switch args[0] {
		case "-exit":
			os.Exit(number(args))
		case "-sleep":
			time.Sleep(time.Duration(number(args)) * time.Millisecond)
		case "-spawn":
			self, err := os.Executable()
			if err != nil {
				os.Exit(65)
			}
			if exec.Command(self, "-sleep", strconv.Itoa(number(args))).Start() != nil {
				os.Exit(66)
			}
		case "-echo":
			if len(args) < 2 {
				os.Exit(64)
			}
			data, err := json.Marshal(map[string][]string{"args": args[2:], "env": os.Environ()})
			if err != nil || os.WriteFile(args[1], data, 0o644) != nil {
				os.Exit(67)
			}
			os.Exit(0)
		default:
			os.Exit(64)
		}
		args = args[2:]
	}
}
