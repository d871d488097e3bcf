// Package lmstat generates the FlexLM tier of `make bench`: the output of
// `lmutil lmstat -a` for a large FlexNet account, in the format
// source/flexlm parses (its testdata fixtures show each case). The output
// is a function of the tier and the clock only, so every run measures the
// same bytes.
package lmstat

import (
	"bytes"
	"fmt"
	"strings"
	"time"
)

// Tier is the size of a generated account.
type Tier struct {
	Features int
	Users    int // user lines: checkouts and queued requests
}

// FlexLM is the tier of issue 13: 500 features, 20,000 user lines.
var FlexLM = Tier{Features: 500, Users: 20_000}

// Server is the triad the output describes, for lmutil's -c.
const Server = "27000@lic-a,27000@lic-b,27000@lic-c"

// Counts says what one output holds, for checking a parse of it.
type Counts struct {
	Features, Blocks, Checkouts, Queued, Reservations int
}

// Per feature, by its index, a mix of the cases the parser reads: one
// feature in 25 is uncounted and node-locked; of the others, one in 5 has
// a floating and a node-locked version block; one in 10 holds a GROUP
// reservation and another one in 10 a USER reservation.
const (
	uncountedEvery = 25
	twoBlocksEvery = 5
)

// Per user line, by its index over the whole output: one in 50 is a
// queued request; of the checkouts, one in 7 holds 2 licenses, one in 11
// prints a PID, one in 13 is borrowed (linger), one in 17 has a display
// of two tokens.
var (
	names   = []string{"alice", "bob", "carol", "dan", "erin", "frank", "gina", "hank", "ivan", "judy", "kim", "lee"}
	vendors = []struct{ daemon, product string }{
		{"csi", "ETABS"}, {"csi", "SAP2000"}, {"ansyslmd", "ANSYS_MECH"}, {"MLM", "MATLAB"}, {"adskflex", "AUTOCAD"},
	}
)

// Generate prints the tier's lmstat output as of now: every start time is
// within the 30 days before now, printed in now's zone, as lmstat prints
// it (weekday, month/day, hour:minute, no year).
func Generate(tier Tier, now time.Time) ([]byte, Counts) {
	var c Counts
	var b bytes.Buffer
	b.Grow(tier.Users*110 + tier.Features*300)
	fmt.Fprintf(&b, "lmutil - Copyright (c) 1989-2023 Flexera. All Rights Reserved.\n")
	fmt.Fprintf(&b, "Flexible License Manager status on %s %d/%d/%d %d:%02d\n\n", now.Weekday().String()[:3],
		now.Month(), now.Day(), now.Year(), now.Hour(), now.Minute())
	b.WriteString("[Detecting lmgrd processes...]\n")
	b.WriteString("License server status: " + Server + "\n")
	b.WriteString("    License file(s) on lic-a: /opt/flexlm/licenses/site.lic:\n\n")
	b.WriteString("     lic-a: license server UP (MASTER) v11.19.0\n")
	b.WriteString("     lic-b: license server UP v11.19.0\n")
	b.WriteString("     lic-c: license server UP v11.19.0\n\n")
	b.WriteString("Vendor daemon status (on lic-a):\n\n")
	seen := map[string]bool{}
	for _, v := range vendors {
		if !seen[v.daemon] {
			seen[v.daemon] = true
			fmt.Fprintf(&b, "%10s: UP v11.19.0\n", v.daemon)
		}
	}
	b.WriteString("\nFeature usage info:\n\n")

	g := 0 // the user line's index over the whole output
	for i := range tier.Features {
		v := vendors[i%len(vendors)]
		name := fmt.Sprintf("%s_%03d", v.product, i)
		n := tier.Users / tier.Features
		if i < tier.Users%tier.Features {
			n++
		}
		c.Features++
		// The body first: the header's totals count it.
		var body bytes.Buffer
		var held int64
		users := func(version string, count int) {
			for range count {
				q, h := userLine(&body, g, version, now)
				if q {
					c.Queued++
				} else {
					c.Checkouts++
					held += h
				}
				g++
			}
		}
		uncounted := i%uncountedEvery == uncountedEvery-1
		switch {
		case uncounted:
			c.Blocks++
			fmt.Fprintf(&body, "  %q v22.0, vendor: %s, expiry: 1-jan-0\n", name, v.daemon)
			body.WriteString("  uncounted nodelocked license, locked to \"HOSTID=DEMO\"\n\n")
			users("22.0", n)
		case i%twoBlocksEvery == twoBlocksEvery-1:
			c.Blocks += 2
			first := n * 3 / 4
			fmt.Fprintf(&body, "  %q v24.0, vendor: %s, expiry: 30-jun-2027\n", name, v.daemon)
			body.WriteString("  floating license\n\n")
			users("24.0", first)
			body.WriteString("\n")
			fmt.Fprintf(&body, "  %q v23.1, vendor: %s, expiry: permanent(no expiration date)\n", name, v.daemon)
			body.WriteString("  nodelocked license, locked to \"HOSTID=0a1b2c3d4e5f\"\n\n")
			users("23.1", n-first)
		default:
			c.Blocks++
			fmt.Fprintf(&body, "  %q v21.0, vendor: %s, expiry: 31-dec-2027\n", name, v.daemon)
			if i%3 == 0 {
				fmt.Fprintf(&body, "  vendor_string: site=plant-%d\n", i%4)
			}
			body.WriteString("  floating license\n\n")
			users("21.0", n)
		}
		if !uncounted {
			switch i % 10 {
			case 0:
				c.Reservations++
				held++
				fmt.Fprintf(&body, "    1 RESERVATION for GROUP eng-%d (lic-a/27000)\n", i%7)
			case 5:
				c.Reservations++
				held += 2
				fmt.Fprintf(&body, "    2 RESERVATIONs for USER %s%04d (lic-a/27000)\n", names[i%len(names)], i)
			}
		}
		if uncounted {
			fmt.Fprintf(&b, "Users of %s:  (Uncounted, node-locked)\n\n", name)
		} else {
			fmt.Fprintf(&b, "Users of %s:  (Total of %d licenses issued;  Total of %d licenses in use)\n\n", name, held+5+int64(i%7), held)
		}
		b.Write(body.Bytes())
		b.WriteString("\n")
	}
	return b.Bytes(), c
}

// userLine prints user line g of a block of version and says whether it
// is queued and how many seats it holds.
func userLine(b *bytes.Buffer, g int, version string, now time.Time) (queued bool, seats int64) {
	user := fmt.Sprintf("%s%04d", names[g%len(names)], g%10_000/len(names))
	host := fmt.Sprintf("ws-%05d", g*7%12_000)
	display := host + ":0.0"
	if g%17 == 0 {
		display = "/dev/pts/3 tmux"
	}
	server := "lic-a"
	if g%3 == 0 {
		server = "lic-b"
	}
	fmt.Fprintf(b, "    %s %s %s (v%s) (%s/27000 %d)", user, host, display, version, server, 100+g)
	if g%50 == 49 {
		b.WriteString(" queued for 1 license\n")
		return true, 0
	}
	start := now.Add(-time.Duration(g*37%(30*24*60)+1) * time.Minute)
	fmt.Fprintf(b, ", start %s %d/%d %d:%02d", start.Weekday().String()[:3], start.Month(), start.Day(), start.Hour(), start.Minute())
	seats = 1
	if g%7 == 0 {
		seats = 2
		b.WriteString(", 2 licenses")
	}
	if g%11 == 0 {
		fmt.Fprintf(b, ", PID: %d", 4000+g)
	}
	if g%13 == 0 {
		b.WriteString(" (linger: 2592000 / 1209600)")
	}
	b.WriteString("\n")
	return false, seats
}

// Summary describes an output in a line, for the report.
func Summary(out []byte, c Counts) string {
	return fmt.Sprintf("%d features, %d version blocks, %d user lines (%d checkouts, %d queued), %d reservations, %d lines, %.1f MiB of lmstat output",
		c.Features, c.Blocks, c.Checkouts+c.Queued, c.Checkouts, c.Queued, c.Reservations,
		strings.Count(string(out), "\n"), float64(len(out))/(1<<20))
}
