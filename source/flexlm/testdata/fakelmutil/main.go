// Command fakelmutil stands in for lmutil in source/flexlm's tests. It
// appends its arguments and environment to <argv0>.log and does what
// <argv0>.mode says:
//
//	cat FILE      print FILE
//	exit N FILE   print FILE, exit with N
//	sleep         start a child that sleeps too, write both pids to
//	              <argv0>.pids, sleep a minute
//	orphan FILE   print FILE, start a child that sleeps and keeps
//	              standard output open, write both pids, exit 0
//	huge          print lines without end
package main

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

func main() {
	self := os.Args[0]
	if len(os.Args) > 1 && os.Args[1] == "__child" {
		time.Sleep(time.Minute)
		return
	}
	logf, err := os.OpenFile(self+".log", os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		os.Exit(90)
	}
	fmt.Fprintf(logf, "args %q\nenv %q\n", os.Args[1:], os.Environ())
	logf.Close()
	mode, err := os.ReadFile(self + ".mode")
	if err != nil {
		os.Exit(91)
	}
	f := strings.Fields(string(mode))
	switch f[0] {
	case "cat":
		b, _ := os.ReadFile(f[1])
		os.Stdout.Write(b)
	case "exit":
		b, _ := os.ReadFile(f[2])
		os.Stdout.Write(b)
		n, _ := strconv.Atoi(f[1])
		os.Exit(n)
	case "sleep", "orphan":
		if f[0] == "orphan" {
			b, _ := os.ReadFile(f[1])
			os.Stdout.Write(b)
		}
		child := exec.Command(self, "__child")
		child.Stdout = os.Stdout
		if err := child.Start(); err != nil {
			os.Exit(92)
		}
		os.WriteFile(self+".pids", []byte(fmt.Sprintf("%d %d\n", os.Getpid(), child.Process.Pid)), 0o600)
		if f[0] == "sleep" {
			time.Sleep(time.Minute)
		}
	case "huge":
		line := []byte(strings.Repeat("x", 1023) + "\n")
		for {
			if _, err := os.Stdout.Write(line); err != nil {
				os.Exit(93)
			}
		}
	}
}
