package simulator

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// FlexFaultKind names one way the simulated FlexLM servers misbehave.
type FlexFaultKind string

// The FlexLM fault kinds (docs/simulator.md).
const (
	FlexFaultNone FlexFaultKind = "none"
	// FlexFaultSlow answers lmstat and lmremove after Latency.
	FlexFaultSlow FlexFaultKind = "slow"
	// FlexFaultDown: no server of the triad answers; lmstat prints
	// "Error getting status: Cannot connect ..." and exits 1.
	FlexFaultDown FlexFaultKind = "down"
	// FlexFaultServerDown: one triad member (Server) is down; the others
	// answer, so lmstat still prints every feature.
	FlexFaultServerDown FlexFaultKind = "server_down"
	// FlexFaultVendorDown: vendor daemon Vendor is down (-97); its
	// features print an error in place of their totals.
	FlexFaultVendorDown FlexFaultKind = "vendor_down"
	// FlexFaultGarbage: output that is not lmstat's.
	FlexFaultGarbage FlexFaultKind = "garbage"
	// FlexFaultHuge: the normal output padded with blank lines to
	// HugeBytes.
	FlexFaultHuge FlexFaultKind = "huge"
)

// FlexFaultKinds lists every kind, none first.
var FlexFaultKinds = []FlexFaultKind{FlexFaultNone, FlexFaultSlow, FlexFaultDown, FlexFaultServerDown,
	FlexFaultVendorDown, FlexFaultGarbage, FlexFaultHuge}

// Defaults of the FlexLM faults.
const (
	DefaultFlexSlow      = 30 * time.Second
	DefaultFlexHugeBytes = 100 << 20
	maxFlexSlow          = time.Hour
	maxFlexHugeBytes     = 4 << 30
)

// FlexFault is the body of POST /-/control/flexlm/fault, e.g.
// {"kind":"slow","latency":"20s"}, {"kind":"vendor_down","vendor":"tidalsim"}.
type FlexFault struct {
	Kind      FlexFaultKind
	Latency   time.Duration // slow
	Server    string        // server_down; default the last triad member
	Vendor    string        // vendor_down; default the first vendor
	HugeBytes int64         // huge
}

type flexFaultJSON struct {
	Kind      FlexFaultKind `json:"kind"`
	Latency   string        `json:"latency,omitempty"`
	Server    string        `json:"server,omitempty"`
	Vendor    string        `json:"vendor,omitempty"`
	HugeBytes int64         `json:"huge_bytes,omitempty"`
}

// MarshalJSON writes the control API form.
func (f FlexFault) MarshalJSON() ([]byte, error) {
	j := flexFaultJSON{Kind: f.Kind, Server: f.Server, Vendor: f.Vendor, HugeBytes: f.HugeBytes}
	if j.Kind == "" {
		j.Kind = FlexFaultNone
	}
	if f.Latency != 0 {
		j.Latency = f.Latency.String()
	}
	return json.Marshal(j)
}

// ParseFlexFault decodes (strictly) and validates a FlexLM fault body,
// filling defaults.
func ParseFlexFault(b []byte) (FlexFault, error) {
	var j flexFaultJSON
	if err := decodeStrict(bytes.NewReader(b), &j); err != nil {
		return FlexFault{}, err
	}
	f := FlexFault{Kind: j.Kind, Server: j.Server, Vendor: j.Vendor, HugeBytes: j.HugeBytes}
	if j.Latency != "" {
		d, err := time.ParseDuration(j.Latency)
		if err != nil {
			return FlexFault{}, fmt.Errorf("latency: %w", err)
		}
		f.Latency = d
	}
	return f.normalize()
}

func (f FlexFault) normalize() (FlexFault, error) {
	if !slices.Contains(FlexFaultKinds, f.Kind) {
		return FlexFault{}, fmt.Errorf("unknown FlexLM fault kind %q", f.Kind)
	}
	only := func(field string, set bool, kind FlexFaultKind) error {
		if set && f.Kind != kind {
			return fmt.Errorf("%s applies only to kind %s", field, kind)
		}
		return nil
	}
	if err := errors.Join(
		only("latency", f.Latency != 0, FlexFaultSlow),
		only("server", f.Server != "", FlexFaultServerDown),
		only("vendor", f.Vendor != "", FlexFaultVendorDown),
		only("huge_bytes", f.HugeBytes != 0, FlexFaultHuge),
	); err != nil {
		return FlexFault{}, err
	}
	switch f.Kind {
	case FlexFaultSlow:
		if f.Latency == 0 {
			f.Latency = DefaultFlexSlow
		}
		if f.Latency < 0 || f.Latency > maxFlexSlow {
			return FlexFault{}, fmt.Errorf("latency must be above 0 and at most %s", maxFlexSlow)
		}
	case FlexFaultServerDown:
		if f.Server == "" {
			f.Server = FlexLMServers[len(FlexLMServers)-1]
		}
		if !slices.Contains(FlexLMServers, f.Server) {
			return FlexFault{}, fmt.Errorf("server must be one of %s", strings.Join(FlexLMServers, ", "))
		}
	case FlexFaultVendorDown:
		if f.Vendor == "" {
			f.Vendor = flexVendors[0].name
		}
		if !slices.ContainsFunc(flexVendors, func(v flexVendor) bool { return v.name == f.Vendor }) {
			return FlexFault{}, fmt.Errorf("unknown vendor %q", f.Vendor)
		}
	case FlexFaultHuge:
		if f.HugeBytes == 0 {
			f.HugeBytes = DefaultFlexHugeBytes
		}
		if f.HugeBytes < minHugeBytes || f.HugeBytes > maxFlexHugeBytes {
			return FlexFault{}, fmt.Errorf("huge_bytes must be %d..%d", minHugeBytes, int64(maxFlexHugeBytes))
		}
	}
	return f, nil
}

// SetFlexFault switches a FlexLM fault on ({Kind: none} clears it), like
// POST /-/control/flexlm/fault.
func (s *Simulator) SetFlexFault(f FlexFault) error {
	n, err := f.normalize()
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.flex.fault = n
	s.mu.Unlock()
	s.logger.Info("FlexLM fault set", "kind", n.Kind)
	return nil
}

const (
	// LmutilBanner is lmutil's first line, which the fake lmutil prints too.
	LmutilBanner = "lmutil - Copyright (c) 1989-2024 Flexera. All Rights Reserved."
	// lmCannotConnect is what lmutil says of a server that does not answer.
	lmCannotConnect = `Cannot connect to license server system. (-15,10:111 "Connection refused")`
	lmVendorDown    = "The desired vendor daemon is down. (-97,121)"
	licenseFile     = "/opt/flexnet/licenses/acme-engineering.lic"
)

// renderLmstatLocked prints `lmutil lmstat -a` for the account as it is
// now, as fault f changes it, and the exit status lmutil would have.
func (s *Simulator) renderLmstatLocked(f FlexFault) ([]byte, int) {
	var b bytes.Buffer
	now := s.simNow.In(s.loc)
	b.WriteString(LmutilBanner + "\n")
	fmt.Fprintf(&b, "Flexible License Manager status on %s/%d %d:%02d\n\n", now.Format("Mon 1/2"), now.Year(), now.Hour(), now.Minute())
	switch f.Kind {
	case FlexFaultGarbage:
		b.Reset()
		b.WriteString("\x7fELF\x02\x01 ?? ld.so: corrupted\nsegmentation violation at 0x0000000000412a9c\n")
		b.WriteString("<html><body>502 Bad Gateway</body></html>\n")
		return b.Bytes(), 0
	case FlexFaultDown:
		b.WriteString("Error getting status: " + lmCannotConnect + "\n")
		return b.Bytes(), 1
	}
	servers := make([]string, len(FlexLMServers))
	for i, sv := range FlexLMServers {
		servers[i] = FlexLMPort + "@" + sv
	}
	master := FlexLMServers[0]
	if f.Kind == FlexFaultServerDown && f.Server == master {
		master = FlexLMServers[1]
	}
	b.WriteString("[Detecting lmgrd processes...]\n")
	fmt.Fprintf(&b, "License server status: %s\n", strings.Join(servers, ","))
	fmt.Fprintf(&b, "    License file(s) on %s: %s:\n\n", master, licenseFile)
	for _, sv := range FlexLMServers {
		switch {
		case f.Kind == FlexFaultServerDown && f.Server == sv:
			fmt.Fprintf(&b, "%10s: %s\n", sv, lmCannotConnect)
		case sv == master:
			fmt.Fprintf(&b, "%10s: license server UP (MASTER) %s\n", sv, flexServerVersion)
		default:
			fmt.Fprintf(&b, "%10s: license server UP %s\n", sv, flexServerVersion)
		}
	}
	fmt.Fprintf(&b, "\nVendor daemon status (on %s):\n\n", master)
	for _, v := range flexVendors {
		if f.Kind == FlexFaultVendorDown && f.Vendor == v.name {
			fmt.Fprintf(&b, "%10s: %s\n", v.name, lmVendorDown)
		} else {
			fmt.Fprintf(&b, "%10s: UP %s\n", v.name, v.version)
		}
	}
	b.WriteString("\nFeature usage info:\n\n")
	acct := s.flexAccountLocked()
	for fi := range flexFeatures {
		feat := &flexFeatures[fi]
		totals := &acct.Features[fi]
		if f.Kind == FlexFaultVendorDown && f.Vendor == flexVendors[feat.vendor].name {
			fmt.Fprintf(&b, "Users of %s:  (Cannot get users of %s: %s)\n\n", feat.name, feat.name, lmVendorDown)
			continue
		}
		if feat.uncounted() {
			fmt.Fprintf(&b, "Users of %s:  (Uncounted, node-locked)\n\n", feat.name)
		} else {
			fmt.Fprintf(&b, "Users of %s:  (Total of %d license%s issued;  Total of %d license%s in use)\n\n",
				feat.name, totals.Issued, plural(totals.Issued), totals.InUse, plural(totals.InUse))
		}
		for bi := range feat.blocks {
			s.renderBlock(&b, fi, bi, now)
		}
	}
	return b.Bytes(), 0
}

// renderBlock prints a version block that is in use (lmstat -a prints no
// block of which nothing is checked out, queued or reserved).
func (s *Simulator) renderBlock(b *bytes.Buffer, fi, bi int, now time.Time) {
	feat := &flexFeatures[fi]
	blk := &feat.blocks[bi]
	if !s.flexBlockPrinted(fi, bi) {
		return
	}
	var users, queued []*flexSession
	for _, x := range s.flex.live {
		if x.feat != fi || x.block != bi {
			continue
		}
		if x.queued {
			queued = append(queued, x)
		} else {
			users = append(users, x)
		}
	}
	vendor := flexVendors[feat.vendor].name
	fmt.Fprintf(b, "  %q v%s, vendor: %s, expiry: %s\n", feat.name, blk.version, vendor, s.flexExpiry(blk))
	fmt.Fprintf(b, "  vendor_string: site=acme;dept=eng\n")
	switch blk.typ {
	case flexFloating:
		b.WriteString("  floating license\n\n")
	case flexNodelocked:
		fmt.Fprintf(b, "  nodelocked license, locked to \"HOSTID=%s\"\n\n", blk.hostID)
	case flexUncounted:
		fmt.Fprintf(b, "  uncounted nodelocked license, locked to \"HOSTID=%s\"\n\n", blk.hostID)
	}
	server := FlexLMServers[0]
	for _, x := range users {
		fmt.Fprintf(b, "    %s %s %s (v%s) (%s/%s %d), start %s", x.user.login, x.user.host, x.user.display,
			blk.version, server, FlexLMPort, x.handle, lmTime(x.start.In(s.loc)))
		if x.licenses > 1 {
			fmt.Fprintf(b, ", %d licenses", x.licenses)
		}
		if x.linger > 0 {
			left := max(x.start.Add(x.linger).Sub(now), 0)
			fmt.Fprintf(b, " (linger: %d / %d)", int64(x.linger/time.Second), int64(left/time.Second))
		}
		b.WriteString("\n")
	}
	for _, r := range blk.reserved {
		fmt.Fprintf(b, "    %d RESERVATION%s for %s %s (%s/%s)\n", r.count, plural(r.count), r.kind, r.name, server, FlexLMPort)
	}
	for _, x := range queued {
		fmt.Fprintf(b, "    %s %s %s (v%s) (%s/%s %d) queued for %d license%s\n", x.user.login, x.user.host, x.user.display,
			blk.version, server, FlexLMPort, x.handle, x.licenses, plural(x.licenses))
	}
	b.WriteString("\n")
}

// lmTime is lmstat's start time: "Wed 3/4 9:05", no year, no leading
// zero on the hour.
func lmTime(t time.Time) string {
	return fmt.Sprintf("%s %d:%02d", t.Format("Mon 1/2"), t.Hour(), t.Minute())
}

func plural(n int64) string {
	if n == 1 {
		return ""
	}
	return "s"
}
