package flexlm

import (
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// maxDenialLine bounds a debug-log line the tail parses; a longer one is
// skipped whole (a DENIED line is well under 1 KiB).
const maxDenialLine = 4096

// denied is one DENIED line of a vendor daemon's debug log, e.g.
//
//	14:02:11 (adskflex) DENIED: "87545ACD_2024_0F" bob@ws-12  (Licensed number of users already reached. (-4,342))
type denied struct {
	clock   int // seconds after midnight; -1 when the line has no time
	feature string
	user    string
	host    string
	code    int // FlexNet's error code (-4); 0 when the line has none
	reason  source.DenialReason
}

// FlexNet error codes of a refused checkout that the contract names.
const (
	codeNoSeat   = -4  // Licensed number of users already reached
	codeExcluded = -38 // User/host on EXCLUDE list for feature
	codeIncluded = -39 // User/host not on INCLUDE list for feature
)

// parseDenied reads one line of a debug log; ok is false for any line
// that is not a well-formed DENIED line. CR endings and leading blanks
// are allowed.
func parseDenied(line string) (d denied, ok bool) {
	if len(line) > maxDenialLine {
		return d, false
	}
	t := strings.TrimSpace(strings.TrimSuffix(line, "\r"))
	d.clock = -1
	if c, rest, ok := clockPrefix(t); ok {
		d.clock, t = c, strings.TrimLeft(rest, " \t")
	}
	if strings.HasPrefix(t, "(") { // the daemon's name: (adskflex)
		end := strings.IndexByte(t, ')')
		if end < 0 {
			return d, false
		}
		t = strings.TrimLeft(t[end+1:], " \t")
	}
	t, found := strings.CutPrefix(t, "DENIED:")
	if !found {
		return d, false
	}
	t = strings.TrimLeft(t, " \t")
	// The feature: quoted, or a bare word in older daemons.
	if strings.HasPrefix(t, `"`) {
		end := strings.IndexByte(t[1:], '"')
		if end < 0 {
			return d, false
		}
		d.feature, t = t[1:1+end], t[2+end:]
	} else {
		d.feature, t, _ = strings.Cut(t, " ")
	}
	if d.feature == "" || strings.ContainsAny(d.feature, " \t") {
		return d, false
	}
	t = strings.TrimLeft(t, " \t")
	who, why, _ := strings.Cut(t, " ")
	at := strings.LastIndexByte(who, '@')
	if at <= 0 || at == len(who)-1 {
		return d, false
	}
	d.user, d.host = who[:at], who[at+1:]
	d.code = errorCode(why)
	d.reason = denialReason(d.code, why)
	return d, true
}

// clockPrefix reads "H:MM:SS" or "HH:MM:SS" at the start of t.
func clockPrefix(t string) (int, string, bool) {
	hms, rest, _ := strings.Cut(t, " ")
	parts := strings.Split(hms, ":")
	if len(parts) != 3 {
		return 0, t, false
	}
	var v [3]int
	for i, p := range parts {
		if len(p) < 1 || len(p) > 2 || (i > 0 && len(p) != 2) || !allDigits(p) {
			return 0, t, false
		}
		v[i], _ = strconv.Atoi(p)
	}
	if v[0] > 23 || v[1] > 59 || v[2] > 60 {
		return 0, t, false
	}
	return min(v[0]*3600+v[1]*60+v[2], 86399), rest, true
}

// errorCode is the major code of the last "(-N," or "(-N)" in s, FlexNet's
// way of closing a message: "(... reached. (-4,342))".
func errorCode(s string) int {
	for i := strings.LastIndex(s, "(-"); i >= 0; i = strings.LastIndex(s[:i], "(-") {
		j := i + 2
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		if j > i+2 && j-i-2 <= 4 && j < len(s) && (s[j] == ',' || s[j] == ')' || s[j] == ':') {
			n, _ := strconv.Atoi(s[i+2 : j])
			return -n
		}
	}
	return 0
}

// denialReason maps FlexNet's code, or its words when the line has no
// code, onto the contract's reasons: -4, every seat in use, is
// no_seat_available; -38 and -39, the options file's EXCLUDE and INCLUDE
// lists (of users, hosts or GROUPs) leaving the user out, are
// not_in_license_group, FlexLM's form of a license group the user is
// not in; anything else is other.
func denialReason(code int, why string) source.DenialReason {
	switch code {
	case codeNoSeat:
		return source.DenialNoSeat
	case codeExcluded, codeIncluded:
		return source.DenialNotInGroup
	case 0:
		switch {
		case strings.Contains(why, "Licensed number of users already reached"):
			return source.DenialNoSeat
		case strings.Contains(why, "INCLUDE list"), strings.Contains(why, "EXCLUDE list"):
			return source.DenialNotInGroup
		}
	}
	return source.DenialOther
}

// clockSkew lets a line's time be a little after the moment it is read
// (the daemon's clock ahead of the exporter's) and still be today.
const clockSkew = 5 * time.Minute

// dateClock dates a time of day: the most recent moment with that time in
// loc at or before read plus clockSkew. The debug log prints no date.
func dateClock(clock int, read time.Time, loc *time.Location) time.Time {
	r := read.In(loc)
	h, m, s := clock/3600, clock/60%60, clock%60
	t := time.Date(r.Year(), r.Month(), r.Day(), h, m, s, 0, loc)
	if t.After(read.Add(clockSkew)) {
		t = time.Date(r.Year(), r.Month(), r.Day()-1, h, m, s, 0, loc)
	}
	return t
}
