package flexlm

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Bounds on what one lmstat answer may hold, so hostile or broken output
// costs bounded memory beyond its bytes (already capped by
// max_response_bytes). A real server with 20,000 users is far below them.
var (
	maxUsers    = 500_000 // user, queued, reservation and version block lines together
	maxFeatures = 100_000 // vars only so the tests can lower them
)

const (
	maxServers  = 64 // server, vendor daemon and status error lines each
	maxSkipped  = 1000
	skippedText = 120 // characters kept of a skipped line
	// maxLineLen: no lmstat line is near it; longer ones are skipped
	// unread, which keeps the user line's search linear.
	maxLineLen = 4096
)

// errTooMany is returned when output passes one of the bounds above.
var errTooMany = errors.New("more lines of one kind than any license server has")

// Status is one `lmutil lmstat -a` answer, as printed.
type Status struct {
	Servers  []Server
	Vendors  []Vendor
	Features []Feature
	// Errors are whole-status failures lmstat printed ("Error getting
	// status: ...", "lmgrd is not running: ..."), shortened.
	Errors []string
	// Skipped are the lines the parser did not understand (at most
	// maxSkipped); SkippedTotal counts them all.
	Skipped      []Skipped
	SkippedTotal int
	Lines        int
	sawHeader    bool // a line only lmstat prints, to tell its output from garbage
}

// Server is one license server (a triad lists three).
type Server struct {
	Name    string
	Up      bool
	Master  bool
	Version string
	Detail  string // what lmstat said when not up
}

// Vendor is one vendor daemon.
type Vendor struct {
	Name    string
	Up      bool
	Version string
	Detail  string
}

// Feature is one "Users of F:" section.
type Feature struct {
	Name      string
	Issued    int64
	InUse     int64
	Uncounted bool
	Error     string // set when lmstat printed an error in place of totals
	Blocks    []Block
}

// Block is one `"F" vX, vendor: V, expiry: E` version block and what
// follows it.
type Block struct {
	Version      string
	Vendor       string
	Expiry       time.Time // zero when permanent or not printed
	Permanent    bool
	Type         string // TypeFloating, TypeNodelocked, TypeUncounted; "" when not printed
	Users        []User
	Queued       []User
	Reservations []Reservation

	u0, u1 int // Users' range in parser.users until the parse ends
}

// User is one user line: a checkout, or a request waiting in the queue.
type User struct {
	Line     int
	Name     string
	Host     string
	Display  string
	Version  string
	Server   string // the license server host that holds the checkout
	Port     string
	Handle   string
	Start    time.Time // zero for queued requests
	Licenses int64     // seats held, or asked for when queued
	Borrowed bool
	Linger   time.Duration // the borrow's length, from "(linger: a / b)"'s a
	PID      int64         // printed by some lmstat versions; 0 when not
}

// Reservation is one "N RESERVATIONs for KIND name" line.
type Reservation struct {
	Count  int64
	Kind   string // GROUP, HOST, USER, ...
	Name   string
	Server string
}

// Skipped is one line the parser did not understand.
type Skipped struct {
	Line int
	Text string // at most skippedText characters
}

// License types, the license_type label's values for FlexLM.
const (
	TypeFloating   = "floating"
	TypeNodelocked = "nodelocked"
	TypeUncounted  = "uncounted"
	TypeMixed      = "mixed" // blocks of one feature of different types
)

type section int

const (
	secNone section = iota
	secServers
	secVendors
	secFeatures
)

// Parse reads lmstat -a output. now is the clock start times are inferred
// against (their year is not printed) and loc the zone they are printed
// in; the parser never reads the wall clock. It fails only past the
// bounds above; lines it does not understand are recorded in Skipped.
func Parse(out []byte, now time.Time, loc *time.Location) (*Status, error) {
	p := newParser(now, loc)
	// Users go into one array, sized from the line count (bounded, so
	// garbage of short lines does not reserve much), and blocks take
	// their ranges at the end: no per-block growth and copying.
	p.users = make([]User, 0, min(bytes.Count(out, []byte{'\n'})+1, 1<<16))
	// One copy; every field is a substring of it.
	text := string(out)
	for len(text) > 0 {
		var line string
		if i := strings.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			line, text = text, ""
		}
		p.st.Lines++
		if err := p.line(line); err != nil {
			p.finish()
			return p.st, err
		}
	}
	p.finish()
	return p.st, nil
}

func newParser(now time.Time, loc *time.Location) parser {
	now = now.In(loc)
	p := parser{st: &Status{}, now: now, loc: loc}
	limit := now.Add(futureSlack)
	p.limitMon, p.limitDay = int(limit.Month()), limit.Day()
	return p
}

type parser struct {
	st                 *Status
	now                time.Time
	loc                *time.Location
	sec                section
	feature            *Feature
	block              *Block
	lines              int            // user, queued, reservation and version block lines
	users              []User         // every block's users, in order
	years              [13][32]yearOf // the year inferred for a "3/2", by month and day
	limitMon, limitDay int            // the date of now+futureSlack, whose year the hour decides
}

// finish hands each block its users.
func (p *parser) finish() {
	for fi := range p.st.Features {
		for bi := range p.st.Features[fi].Blocks {
			b := &p.st.Features[fi].Blocks[bi]
			if b.u1 > b.u0 {
				b.Users = p.users[b.u0:b.u1:b.u1]
			}
		}
	}
}

func (p *parser) skip(line string) {
	p.st.SkippedTotal++
	if len(p.st.Skipped) >= maxSkipped {
		return
	}
	line = strings.TrimRight(line, "\r")
	if len(line) > skippedText {
		n := skippedText
		for n > 0 && !utf8.RuneStart(line[n]) {
			n--
		}
		line = line[:n]
	}
	p.st.Skipped = append(p.st.Skipped, Skipped{Line: p.st.Lines, Text: line})
}

func (p *parser) line(raw string) error {
	if len(raw) > maxLineLen {
		p.skip(raw)
		return nil
	}
	t := strings.TrimSpace(raw) // also drops the CR of CRLF output
	if t == "" {
		return nil
	}
	switch {
	case strings.HasPrefix(t, "Users of "):
		return p.featureHeader(raw, t)
	case t[0] == '"':
		if p.lines >= maxUsers {
			return errTooMany
		}
		if p.feature == nil || !p.versionBlock(t) {
			p.skip(raw)
		}
		p.lines++
		return nil
	case strings.HasPrefix(t, "License server status:"):
		p.sec, p.st.sawHeader, p.feature, p.block = secServers, true, nil, nil
	case strings.HasPrefix(t, "Vendor daemon status"):
		p.sec, p.st.sawHeader, p.feature, p.block = secVendors, true, nil, nil
	case strings.HasPrefix(t, "Feature usage info:"):
		p.sec, p.st.sawHeader = secFeatures, true
	case strings.HasPrefix(t, "Flexible License Manager status on"):
		p.st.sawHeader = true
	case strings.HasPrefix(t, "lmutil - Copyright"), strings.HasPrefix(t, "lmstat - Copyright"),
		strings.HasPrefix(t, "[Detecting lmgrd processes...]"), strings.HasPrefix(t, "License file(s) on "):
	case strings.HasPrefix(t, "Error getting status:"), strings.HasPrefix(t, "lmgrd is not running:"):
		p.st.sawHeader = true
		if len(p.st.Errors) >= maxServers {
			return errTooMany
		}
		p.st.Errors = append(p.st.Errors, shorten(t))
	case p.sec == secFeatures && p.feature != nil:
		return p.featureBody(raw, t)
	case p.sec == secServers:
		return p.server(raw, t)
	case p.sec == secVendors:
		return p.vendor(raw, t)
	default:
		p.skip(raw)
	}
	return nil
}

// server reads "lic-a: license server UP (MASTER) v11.19.0" or a down
// member's "lic-c: <why>".
func (p *parser) server(raw, t string) error {
	name, rest, ok := strings.Cut(t, ": ")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		p.skip(raw)
		return nil
	}
	if len(p.st.Servers) >= maxServers {
		return errTooMany
	}
	s := Server{Name: name}
	if r, up := strings.CutPrefix(rest, "license server UP"); up {
		s.Up = true
		for _, f := range strings.Fields(r) {
			switch {
			case f == "(MASTER)":
				s.Master = true
			case len(f) > 1 && f[0] == 'v' && isDigit(f[1]):
				s.Version = f
			}
		}
	} else {
		s.Detail = shorten(rest)
	}
	p.st.Servers = append(p.st.Servers, s)
	return nil
}

// vendor reads "csi: UP v11.19.0", "csi: DOWN" or
// "csi: The desired vendor daemon is down. (-97,121)".
func (p *parser) vendor(raw, t string) error {
	name, rest, ok := strings.Cut(t, ": ")
	if !ok || name == "" || strings.ContainsAny(name, " \t") {
		p.skip(raw)
		return nil
	}
	if len(p.st.Vendors) >= maxServers {
		return errTooMany
	}
	v := Vendor{Name: name}
	if rest == "UP" || strings.HasPrefix(rest, "UP ") {
		v.Up = true
		if f := strings.Fields(rest[2:]); len(f) > 0 {
			v.Version = f[0]
		}
	} else {
		v.Detail = shorten(rest)
	}
	p.st.Vendors = append(p.st.Vendors, v)
	return nil
}

// featureHeader reads "Users of F:  (Total of N licenses issued;  Total
// of M licenses in use)", "(Uncounted, node-locked)" or an error in
// place of the totals.
func (p *parser) featureHeader(raw, t string) error {
	name, rest, ok := strings.Cut(t[len("Users of "):], ":")
	rest = strings.TrimSpace(rest)
	if !ok || name == "" || strings.ContainsAny(name, " \t") || len(rest) < 2 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		p.feature, p.block = nil, nil
		p.skip(raw)
		return nil
	}
	if len(p.st.Features) >= maxFeatures {
		return errTooMany
	}
	p.sec, p.st.sawHeader = secFeatures, true
	p.st.Features = append(p.st.Features, Feature{Name: name})
	f := &p.st.Features[len(p.st.Features)-1]
	p.feature, p.block = f, nil
	inner := rest[1 : len(rest)-1]
	switch {
	case strings.HasPrefix(inner, "Total of "):
		issued, r1, ok1 := totalOf(inner, "issued")
		inUse, _, ok2 := totalOf(r1, "in use")
		if !ok1 || !ok2 {
			f.Error = shorten(inner)
			p.skip(raw)
			return nil
		}
		f.Issued, f.InUse = issued, inUse
	case strings.HasPrefix(inner, "Uncounted"):
		f.Uncounted = true
	default:
		f.Error = shorten(inner)
	}
	return nil
}

// totalOf reads "Total of N license(s) <what>" at the start of s (after
// any separators) and returns N and what follows.
func totalOf(s, what string) (int64, string, bool) {
	s = strings.TrimLeft(s, " ;")
	s, ok := strings.CutPrefix(s, "Total of ")
	if !ok {
		return 0, "", false
	}
	num, s, _ := strings.Cut(s, " ")
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 {
		return 0, "", false
	}
	if s, ok = strings.CutPrefix(s, "licenses "); !ok {
		if s, ok = strings.CutPrefix(s, "license "); !ok {
			return 0, "", false
		}
	}
	s, ok = strings.CutPrefix(s, what)
	return n, s, ok
}

// versionBlock reads `"F" v21.0, vendor: csi, expiry: 31-dec-2026`.
func (p *parser) versionBlock(t string) bool {
	end := strings.IndexByte(t[1:], '"')
	if end < 0 || t[1:1+end] != p.feature.Name {
		return false
	}
	var b Block
	for i, part := range strings.Split(t[end+2:], ",") {
		part = strings.TrimSpace(part)
		if i == 0 {
			if len(part) < 2 || part[0] != 'v' {
				return false
			}
			b.Version = part[1:]
			continue
		}
		k, v, ok := strings.Cut(part, ":")
		if !ok {
			continue // e.g. a vendor string holding commas
		}
		switch strings.TrimSpace(k) {
		case "vendor":
			b.Vendor = strings.TrimSpace(v)
		case "expiry":
			exp, perm, ok := parseExpiry(strings.TrimSpace(v), p.loc)
			if !ok {
				return false
			}
			b.Expiry, b.Permanent = exp, perm
		}
	}
	if b.Version == "" {
		return false
	}
	p.feature.Blocks = append(p.feature.Blocks, b)
	p.block = &p.feature.Blocks[len(p.feature.Blocks)-1]
	return true
}

var months = map[string]time.Month{
	"jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
	"jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}

// parseExpiry reads "31-dec-2026", "permanent" (with anything after it)
// and FlexLM's "1-jan-0" (year 0, also permanent). A dated license is
// taken to expire at the start of that day in the server's zone, the
// earlier of the two readings, so alerts are never late.
func parseExpiry(s string, loc *time.Location) (time.Time, bool, bool) {
	if strings.HasPrefix(strings.ToLower(s), "permanent") {
		return time.Time{}, true, true
	}
	d, rest, ok1 := strings.Cut(s, "-")
	m, y, ok2 := strings.Cut(rest, "-")
	if !ok1 || !ok2 {
		return time.Time{}, false, false
	}
	day, err1 := strconv.Atoi(d)
	year, err2 := strconv.Atoi(y)
	mon, ok := months[strings.ToLower(m)]
	if err1 != nil || err2 != nil || !ok || day < 1 || day > 31 || year < 0 || year > 9999 {
		return time.Time{}, false, false
	}
	if year == 0 {
		return time.Time{}, true, true
	}
	t := time.Date(year, mon, day, 0, 0, 0, 0, loc)
	if t.Day() != day {
		return time.Time{}, false, false
	}
	return t, false, true
}

func (p *parser) featureBody(raw, t string) error {
	switch t[0] {
	case 'f', 'n', 'u', 'F', 'N', 'U':
		if typ := blockType(t); typ != "" {
			p.ensureBlock().Type = typ
			return nil
		}
	case 'v':
		if strings.HasPrefix(t, "vendor_string:") {
			return nil
		}
	}
	if p.lines >= maxUsers {
		return errTooMany
	}
	if r, ok := parseReservation(t); ok {
		p.lines++
		b := p.ensureBlock()
		b.Reservations = append(b.Reservations, r)
		return nil
	}
	// Parsed in place, into the next slot of p.users: a User is 176
	// bytes, and copying it out of each helper showed in profiles.
	n := len(p.users)
	p.users = append(p.users, User{})
	u := &p.users[n]
	queued, ok := p.parseUserInto(t, u)
	if !ok || queued {
		one := *u
		p.users[n] = User{}
		p.users = p.users[:n]
		if !ok {
			p.skip(raw)
			return nil
		}
		p.lines++
		one.Line = p.st.Lines
		b := p.ensureBlock()
		b.Queued = append(b.Queued, one)
		return nil
	}
	p.lines++
	u.Line = p.st.Lines
	b := p.ensureBlock()
	// A block's users are contiguous: lines of an earlier block never
	// come after a later block's header.
	if b.u1 == b.u0 {
		b.u0 = n
	}
	b.u1 = n + 1
	return nil
}

// ensureBlock returns the current version block, or an unnamed one for
// lines that come without a block line.
func (p *parser) ensureBlock() *Block {
	if p.block == nil {
		p.feature.Blocks = append(p.feature.Blocks, Block{})
		p.block = &p.feature.Blocks[len(p.feature.Blocks)-1]
	}
	return p.block
}

// blockType reads "floating license", "nodelocked license, locked to
// ..." and "uncounted nodelocked license, ...".
func blockType(t string) string {
	head := t[:min(len(t), 48)] // user lines are long: look at the start only
	i := strings.Index(head, " license")
	if i < 0 {
		return ""
	}
	if rest := t[i+len(" license"):]; rest != "" && rest[0] != ',' {
		return ""
	}
	switch strings.ToLower(t[:i+len(" license")]) {
	case "floating license":
		return TypeFloating
	case "nodelocked license", "node-locked license":
		return TypeNodelocked
	case "uncounted nodelocked license", "uncounted node-locked license", "uncounted license":
		return TypeUncounted
	}
	return ""
}

// parseReservation reads "1 RESERVATION for GROUP eng (lic-a/27000)".
func parseReservation(t string) (Reservation, bool) {
	if !isDigit(t[0]) || !strings.Contains(t, " RESERVATION") {
		return Reservation{}, false
	}
	f := strings.Fields(t)
	if len(f) < 5 || !strings.HasPrefix(f[1], "RESERVATION") || f[2] != "for" {
		return Reservation{}, false
	}
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil || n <= 0 {
		return Reservation{}, false
	}
	r := Reservation{Count: n, Kind: f[3]}
	names := f[4:]
	if last := names[len(names)-1]; len(names) > 1 && last[0] == '(' && last[len(last)-1] == ')' {
		r.Server, _, _ = strings.Cut(last[1:len(last)-1], "/")
		names = names[:len(names)-1]
	}
	r.Name = strings.Join(names, " ")
	return r, true
}

// parseUser reads a user line:
//
//	user host display (v21.0) (lic-a/27000 101), start Mon 3/2 9:41[, 2 licenses][, PID: n][ (linger: a / b)]
//	user host display (v21.0) (lic-a/27000 401) queued for 2 licenses
//
// The display may hold spaces, so the line is anchored on the version
// and the server group rather than on field positions.
func (p *parser) parseUser(t string) (u User, queued, ok bool) {
	queued, ok = p.parseUserInto(t, &u)
	return u, queued, ok
}

// parseUserInto is parseUser writing into u, which must be zero: field
// by field, as a whole User written through a pointer costs a bulk write
// barrier.
func (p *parser) parseUserInto(t string, u *User) (queued, ok bool) {
	from := 0
	for {
		i := strings.Index(t[from:], " (v")
		if i < 0 {
			return false, false
		}
		i += from
		from = i + 3
		vEnd := strings.IndexByte(t[i+3:], ')')
		if vEnd < 0 {
			return false, false
		}
		vEnd += i + 3
		rest, ok := strings.CutPrefix(t[vEnd+1:], " (")
		if !ok {
			continue
		}
		gEnd := strings.IndexByte(rest, ')')
		if gEnd < 0 {
			continue
		}
		srv, handle, ok1 := strings.Cut(rest[:gEnd], " ")
		host, port, ok2 := strings.Cut(srv, "/")
		if !ok1 || !ok2 || host == "" || !allDigits(port) || !allDigits(handle) {
			continue
		}
		// The head is user, host and the display, which may hold spaces.
		head := strings.TrimSpace(t[:i])
		name, r, ok3 := strings.Cut(head, " ")
		r = strings.TrimLeft(r, " ")
		uhost, display, _ := strings.Cut(r, " ")
		if !ok3 || uhost == "" {
			return false, false
		}
		u.Name, u.Host, u.Display, u.Version = name, uhost, strings.TrimSpace(display), t[i+3:vEnd]
		u.Server, u.Port, u.Handle, u.Licenses = host, port, handle, 1
		return p.userTail(u, rest[gEnd+1:])
	}
}

// userTail reads what follows the server group.
func (p *parser) userTail(u *User, tail string) (bool, bool) {
	if q, ok := strings.CutPrefix(tail, " queued for "); ok {
		n, ok := licenseCount(q)
		u.Licenses = n
		return true, ok
	}
	tail, ok := strings.CutPrefix(tail, ", start ")
	if !ok {
		return false, false
	}
	// "Mon 3/2 9:41" then optional ", N licenses" and " (linger: a / b)".
	wd, tail, _ := strings.Cut(tail, " ")
	md, tail, _ := strings.Cut(tail, " ")
	hm := tail
	if i := indexByte3(tail, ',', ' ', '('); i >= 0 {
		hm, tail = tail[:i], tail[i:]
	} else {
		tail = ""
	}
	start, ok := p.startTime(wd, md, hm)
	if !ok {
		return false, false
	}
	u.Start = start
	for tail != "" {
		switch {
		case strings.HasPrefix(tail, ", "):
			item := tail[2:]
			if i := indexByte3(item, ',', '(', '('); i >= 0 {
				item, tail = item[:i], item[i:]
			} else {
				tail = ""
			}
			item = strings.TrimSpace(item)
			if pid, ok := strings.CutPrefix(item, "PID: "); ok {
				n, err := strconv.ParseInt(pid, 10, 64)
				if err != nil || n <= 0 {
					return false, false
				}
				u.PID = n
				continue
			}
			n, ok := licenseCount(item)
			if !ok {
				return false, false
			}
			u.Licenses = n
		case strings.HasPrefix(tail, " (linger: ") || strings.HasPrefix(tail, "(linger: "):
			body, after, ok := strings.Cut(tail[strings.IndexByte(tail, ':')+1:], ")")
			if !ok {
				return false, false
			}
			total, _, _ := strings.Cut(body, "/")
			secs, err := strconv.ParseInt(strings.TrimSpace(total), 10, 64)
			if err != nil || secs < 0 || secs > 100*365*86400 {
				return false, false
			}
			u.Borrowed, u.Linger = true, time.Duration(secs)*time.Second
			tail = after
		case strings.TrimSpace(tail) == "":
			tail = ""
		default:
			return false, false
		}
	}
	return false, true
}

// licenseCount reads "2 licenses" or "1 license".
func licenseCount(s string) (int64, bool) {
	num, word, _ := strings.Cut(strings.TrimSpace(s), " ")
	if word != "licenses" && word != "license" {
		return 0, false
	}
	n, err := strconv.ParseInt(num, 10, 64)
	return n, err == nil && n > 0
}

// weekday reads lmstat's three-letter weekday.
func weekday(s string) (time.Weekday, bool) {
	switch s {
	case "Sun":
		return time.Sunday, true
	case "Mon":
		return time.Monday, true
	case "Tue":
		return time.Tuesday, true
	case "Wed":
		return time.Wednesday, true
	case "Thu":
		return time.Thursday, true
	case "Fri":
		return time.Friday, true
	case "Sat":
		return time.Saturday, true
	}
	return 0, false
}

// futureSlack lets a start be a little after the parse clock (the server's
// clock runs ahead, or zones disagree) without moving it to a past year;
// the weekday check keeps the two readings apart.
const futureSlack = 26 * time.Hour

// startTime reads "Mon", "3/2", "9:41". Of the past dates with that month
// and day (up to futureSlack ahead), the most recent whose weekday
// matches, trying two: this year's and last year's, or the last two leap
// days. A weekday that matches neither is refused: the line is misread.
func (p *parser) startTime(wd, md, hm string) (time.Time, bool) {
	want, ok := weekday(wd)
	ms, ds, ok1 := strings.Cut(md, "/")
	hs, mins, ok2 := strings.Cut(hm, ":")
	if !ok || !ok1 || !ok2 {
		return time.Time{}, false
	}
	mon, err1 := strconv.Atoi(ms)
	day, err2 := strconv.Atoi(ds)
	hour, err3 := strconv.Atoi(hs)
	minute, err4 := strconv.Atoi(mins)
	if err1 != nil || err2 != nil || err3 != nil || err4 != nil || mon < 1 || mon > 12 || day < 1 || day > 31 ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 {
		return time.Time{}, false
	}
	// Only on the date of the limit does the hour decide whether this
	// year's date is past; every other day's answer holds for all hours.
	cache := mon != p.limitMon || day != p.limitDay
	// An array, not a map keyed by "3/2": no hashing on every user line.
	if c := &p.years[mon][day]; c.set && cache && c.wd == want {
		if c.plain {
			return c.midnight.Add(time.Duration(hour)*time.Hour + time.Duration(minute)*time.Minute), true
		}
		return time.Date(c.year, time.Month(mon), day, hour, minute, 0, 0, p.loc), true
	}
	limit := p.now.Add(futureSlack)
	tried := 0
	for y := p.now.Year() + 1; y >= p.now.Year()-8 && tried < 2; y-- {
		t := time.Date(y, time.Month(mon), day, hour, minute, 0, 0, p.loc)
		if t.Day() != day || t.After(limit) {
			continue
		}
		if t.Weekday() == want {
			if cache {
				midnight := time.Date(y, time.Month(mon), day, 0, 0, 0, 0, p.loc)
				next := time.Date(y, time.Month(mon), day+1, 0, 0, 0, 0, p.loc)
				// A day without a zone change: its times are midnight
				// plus the hours and minutes.
				plain := next.Sub(midnight) == 24*time.Hour && midnight.Hour() == 0
				p.years[mon][day] = yearOf{set: true, wd: want, year: y, midnight: midnight, plain: plain}
			}
			return t, true
		}
		tried++
	}
	return time.Time{}, false
}

// yearOf caches startTime's answer for one weekday and month/day.
type yearOf struct {
	set      bool
	wd       time.Weekday
	year     int
	midnight time.Time
	plain    bool // no zone change that day
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// indexByte3 is strings.IndexAny for up to three bytes, without its
// set-building, which showed in profiles on every user line.
func indexByte3(s string, a, b, c byte) int {
	for i := 0; i < len(s); i++ {
		if x := s[i]; x == a || x == b || x == c {
			return i
		}
	}
	return -1
}

func allDigits(s string) bool {
	if s == "" || len(s) > 10 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// shorten keeps lmstat's words printable and short, for errors and logs.
func shorten(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return ' '
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}
