package probe

import (
	"bytes"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/license-monitor/license-monitor/source"
)

// A line-based source (FlexLM's lmstat) has no wire type: its parser
// tells which lines it skipped, and the probe shows their shapes.
type lineSkipper interface {
	// SkippedLines are the 1-based numbers of the lines of the last
	// ReadRaw's document that the parser did not understand (a bounded
	// list) and how many there were in all.
	SkippedLines() (lines []int, total int)
}

// peopleNamer is a source whose last ReadRaw names people beyond its
// sessions (queued users, reservations), for the scrubber.
type peopleNamer interface {
	People() (users, hosts, displays []string)
}

// Bounds of the skipped-line findings.
const (
	maxShapes   = 50
	maxShapeLen = 120
)

// lmstatWords are the words lmstat itself prints; a shape keeps them and
// writes every other word as <w>, so user and host names never show.
var lmstatWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`Users of Total license licenses issued in use Uncounted node locked
		nodelocked floating uncounted vendor expiry start linger queued for RESERVATION RESERVATIONs
		GROUP HOST USER PID Error Cannot get users The desired daemon is down UP DOWN MASTER server
		status Vendor License Feature usage info file files on Flexible Manager lmgrd not running
		connect to system Connection refused permanent no expiration date vendor_string
		Mon Tue Wed Thu Fri Sat Sun jan feb mar apr may jun jul aug sep oct nov dec HOSTID v`) {
		m[w] = true
	}
	return m
}()

// lineShape writes line with its digits as 9, its words that lmstat
// does not print as <w>, other characters that are not printable ASCII
// as ?, and blanks collapsed: the shape of a line without the names in
// it, at most maxShapeLen bytes of whole tokens.
func lineShape(line string) string {
	var b strings.Builder
	line = strings.TrimSpace(line)
	space := false
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRuneInString(line[i:])
		var tok string
		switch {
		case unicode.IsSpace(r):
			space = true
			i += n
			continue
		case unicode.IsDigit(r):
			i += runOf(line[i:], unicode.IsDigit)
			tok = "9"
		case isWordRune(r):
			j := i + runOf(line[i:], isWordRune)
			if tok = line[i:j]; !lmstatWords[tok] {
				tok = "<w>"
			}
			i = j
		case r < utf8.RuneSelf && unicode.IsPrint(r):
			tok = line[i : i+1]
			i++
		default:
			tok = "?"
			i += n
		}
		sep := 0
		if space && b.Len() > 0 {
			sep = 1
		}
		if b.Len()+sep+len(tok) > maxShapeLen {
			break
		}
		if sep == 1 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteString(tok)
	}
	return b.String()
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || r == '_' }

// runOf is the length in bytes of the run of runes at the start of s
// that are in class.
func runOf(s string, class func(rune) bool) int {
	n := 0
	for n < len(s) {
		r, m := utf8.DecodeRuneInString(s[n:])
		if !class(r) {
			break
		}
		n += m
	}
	return n
}

// bodyLines splits a text document into its lines, CRs removed.
func bodyLines(body []byte) []string {
	s := strings.Split(string(body), "\n")
	for i := range s {
		s[i] = strings.TrimSuffix(s[i], "\r")
	}
	return s
}

// skippedFindings counts the skipped lines of d by shape (or, with
// --source.probe.show-users, as they are).
func (p *prober) skippedFindings(d *rawDoc, total int) EndpointFindings {
	lines := bodyLines(d.Body)
	count := map[string]int{}
	for _, n := range d.skipped {
		if n < 1 || n > len(lines) {
			continue
		}
		k := lineShape(lines[n-1])
		if p.scrub.showUsers {
			k = p.scrub.Text(strings.TrimSpace(lines[n-1]))
			if len(k) > maxShapeLen {
				k = k[:maxShapeLen] + "…"
			}
		}
		count[k]++
	}
	fs := make([]Finding, 0, len(count))
	for k, n := range count {
		fs = append(fs, Finding{Kind: FindingSkippedLine, Path: p.scrub.Text(k), Count: n})
	}
	sort.Slice(fs, func(i, j int) bool {
		if fs[i].Count != fs[j].Count {
			return fs[i].Count > fs[j].Count
		}
		return fs[i].Path < fs[j].Path
	})
	dropped := max(total-len(d.skipped), 0)
	if len(fs) > maxShapes {
		for _, f := range fs[maxShapes:] {
			dropped += f.Count
		}
		fs = fs[:maxShapes]
	}
	return EndpointFindings{Endpoint: d.Endpoint, Documents: 1, Findings: fs, Dropped: dropped}
}

// lineBody is a line-based document for the dump: its skipped lines
// replaced by their shapes (a name the parser did not read is unknown to
// the scrubber), and every blank-separated word that is a known person's
// value pseudonymised, however short (lmstat's "bob" is below the
// scrubber's substring bound).
func (p *prober) lineBody(d *rawDoc) []byte {
	lines := bytes.Split(d.Body, []byte("\n"))
	for _, n := range d.skipped {
		if n >= 1 && n <= len(lines) {
			cr := bytes.HasSuffix(lines[n-1], []byte("\r"))
			shape := []byte("<skipped: " + lineShape(string(lines[n-1])) + ">")
			if cr {
				shape = append(shape, '\r')
			}
			lines[n-1] = shape
		}
	}
	for i, l := range lines {
		words := bytes.Split(l, []byte(" "))
		for j, w := range words {
			if ps, ok := p.scrub.pseudo[string(bytes.TrimSuffix(w, []byte("\r")))]; ok {
				if bytes.HasSuffix(w, []byte("\r")) {
					ps += "\r"
				}
				words[j] = []byte(ps)
			}
		}
		lines[i] = bytes.Join(words, []byte(" "))
	}
	return bytes.Join(lines, []byte("\n"))
}

// registerPeople tells the scrubber the people src's last raw read named.
func (p *prober) registerPeople(src source.Source) {
	pn, ok := src.(peopleNamer)
	if !ok {
		return
	}
	users, hosts, displays := pn.People()
	for _, u := range users {
		p.scrub.personal("user", u)
	}
	for _, h := range hosts {
		p.scrub.personal("host", h)
	}
	for _, d := range displays {
		p.scrub.personal("name", d)
	}
}
