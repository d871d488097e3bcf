package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/internal/simulator"
)

// The fake lmutil: license_simulator run as "lmutil" (a symlink) or as
// "license_simulator lmutil ARGS". It reads the simulated FlexLM account
// from the simulator that -c names (port@host: the simulator's address)
// and prints what lmutil would. It reads no environment variable (no
// proxy either) and prints nothing but what the simulator answered or
// lmutil's own words.

const (
	// maxLmstatBytes bounds what it copies from the simulator: more than
	// any max_response_bytes a test sets, and the huge fault's ceiling.
	maxLmstatBytes = 4<<30 + 1
	maxAnswerBytes = 64 << 10
	// lmutilTimeout bounds one call; the exporter's timeout is shorter.
	lmutilTimeout = 10 * time.Minute
	lmNoServer    = `Cannot connect to license server system. (-15,570:111 "Connection refused")`
)

func runLmutil(args []string, stdout, stderr io.Writer) int {
	usage := func(msg string) int {
		fmt.Fprintf(stderr, "lmutil: %s\nusage: lmutil lmstat -a -c port@host[,port@host...]\n"+
			"       lmutil lmremove -c port@host[,...] -h feature server_host port handle\n", msg)
		return 1
	}
	if len(args) == 0 {
		return usage("no command")
	}
	cmd, rest := args[0], args[1:]
	var servers string
	var h []string
	for i := 0; i < len(rest); i++ {
		switch a := rest[i]; {
		case a == "-a" || a == "-i":
		case a == "-c" && i+1 < len(rest):
			servers = rest[i+1]
			i++
		case a == "-h" && cmd == "lmremove" && i+4 < len(rest):
			h = rest[i+1 : i+5]
			i += 4
		default:
			return usage(fmt.Sprintf("unexpected argument %q", a))
		}
	}
	if servers == "" {
		return usage("-c port@host is required")
	}
	bases, err := simulatorURLs(servers)
	if err != nil {
		return usage(err.Error())
	}
	client := &http.Client{
		Timeout: lmutilTimeout,
		// No proxy from the environment: the simulator is local.
		Transport: &http.Transport{Proxy: nil, DialContext: (&net.Dialer{Timeout: 10 * time.Second}).DialContext},
	}
	switch cmd {
	case "lmstat":
		return lmstat(client, bases, stdout)
	case "lmremove":
		if h == nil {
			return usage("lmremove needs -h feature server_host port handle")
		}
		return lmremove(client, bases, h, stdout)
	}
	return usage(fmt.Sprintf("unknown command %q", cmd))
}

// simulatorURLs reads -c's port@host entries as the simulators' base URLs.
func simulatorURLs(servers string) ([]string, error) {
	var out []string
	for _, e := range strings.Split(servers, ",") {
		port, host, ok := strings.Cut(e, "@")
		if n, err := strconv.Atoi(port); !ok || err != nil || n < 1 || n > 65535 || host == "" || strings.ContainsAny(host, "/?#@ ") {
			return nil, fmt.Errorf("-c: %q is not port@host", e)
		}
		out = append(out, "http://"+net.JoinHostPort(host, port))
	}
	return out, nil
}

// exitOf is the exit status the simulator asks for.
func exitOf(resp *http.Response) int {
	n, err := strconv.Atoi(resp.Header.Get(simulator.HeaderLmutilExit))
	if err != nil || n < 0 || n > 125 {
		return 1
	}
	return n
}

func lmstat(client *http.Client, bases []string, stdout io.Writer) int {
	for _, base := range bases {
		resp, err := client.Get(base + simulator.PathLmstat)
		if err != nil {
			continue // the next server of the list, as lmutil tries them
		}
		if resp.StatusCode != http.StatusOK {
			resp.Body.Close()
			continue
		}
		_, err = io.Copy(stdout, io.LimitReader(resp.Body, maxLmstatBytes))
		resp.Body.Close()
		if err != nil {
			return 1
		}
		return exitOf(resp)
	}
	fmt.Fprintf(stdout, "%s\n\nError getting status: %s\n", simulator.LmutilBanner, lmNoServer)
	return 1
}

func lmremove(client *http.Client, bases, h []string, stdout io.Writer) int {
	body, _ := json.Marshal(simulator.LmremoveRequest{Feature: h[0], ServerHost: h[1], Port: h[2], Handle: h[3]})
	for _, base := range bases {
		resp, err := client.Post(base+simulator.PathLmremove, "application/json", bytes.NewReader(body))
		if err != nil {
			continue
		}
		out, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			fmt.Fprintf(stdout, "%s\nlmremove failed: the license server refused the request.\n", simulator.LmutilBanner)
			return 1
		}
		_, _ = stdout.Write(out)
		return exitOf(resp)
	}
	fmt.Fprintf(stdout, "%s\nlmremove failed: %s\n", simulator.LmutilBanner, lmNoServer)
	return 1
}
