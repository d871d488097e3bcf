package upstream

import (
	"bytes"
	"encoding/json"
	"reflect"
	"unicode/utf8"
)

// A sessions page is most of what a poll reads: 200 pages of 1,000
// sessions for a large account. encoding/json decodes it through
// reflection at about 60 MB/s here; decodeSessionsPage reads the common
// shape of a page directly, about four times faster, and hands anything
// else to encoding/json, so the result is always encoding/json's
// (FuzzDecodeMatchesStdlib holds it to that).
//
// It takes the JSON names from the struct tags in wire.go, which stays the
// only place that spells them.

// sessionField returns a pointer to one field of a SessionDoc: *string,
// *bool or **string. sessionFields lists them in SessionDoc's field order;
// init checks that order against the struct.
type sessionField func(d *SessionDoc) any

var sessionFields = []sessionField{
	func(d *SessionDoc) any { return &d.ID },
	func(d *SessionDoc) any { return &d.LicenseID },
	func(d *SessionDoc) any { return &d.User },
	func(d *SessionDoc) any { return &d.DisplayName },
	func(d *SessionDoc) any { return &d.Host },
	func(d *SessionDoc) any { return &d.StartedAt },
	func(d *SessionDoc) any { return &d.CheckedOut },
	func(d *SessionDoc) any { return &d.CheckoutExpiresAt },
}

var (
	// sessionNames maps a SessionDoc JSON name to its index in sessionFields.
	sessionNames map[string]int
	// pageSessions and pageToken are SessionsDoc's two JSON names.
	pageSessions, pageToken string
)

func init() {
	sessionNames = make(map[string]int, len(sessionFields))
	t := reflect.TypeFor[SessionDoc]()
	if t.NumField() != len(sessionFields) {
		panic("upstream: SessionDoc's fields changed; update sessionFields")
	}
	var probe SessionDoc
	for i := range t.NumField() {
		f := t.Field(i)
		if reflect.ValueOf(sessionFields[i](&probe)).Pointer() != reflect.ValueOf(&probe).Elem().Field(i).Addr().Pointer() {
			panic("upstream: sessionFields does not follow SessionDoc's field order")
		}
		sessionNames[jsonName(f)] = i
	}
	p := reflect.TypeFor[SessionsDoc]()
	if p.NumField() != 2 || p.Field(0).Type != reflect.TypeFor[[]SessionDoc]() || p.Field(1).Type.Kind() != reflect.String {
		panic("upstream: SessionsDoc changed; update decodeSessionsPage")
	}
	pageSessions, pageToken = jsonName(p.Field(0)), jsonName(p.Field(1))
}

func jsonName(f reflect.StructField) string {
	name, _, _ := bytes.Cut([]byte(f.Tag.Get("json")), []byte(","))
	if len(name) == 0 || name[0] == '-' {
		panic("upstream: wire field " + f.Name + " has no JSON name")
	}
	for _, c := range name {
		if c >= utf8.RuneSelf {
			panic("upstream: wire field " + f.Name + " has a non-ASCII JSON name")
		}
	}
	return string(name)
}

// decodeSessionsPage decodes data into doc exactly as json.Unmarshal does.
func decodeSessionsPage(data []byte, doc *SessionsDoc) error {
	p := pageReader{b: data}
	if p.page(doc) {
		return nil
	}
	// Not the common shape, or not valid: encoding/json decides, from a
	// doc as the caller passed it.
	clear(doc.Sessions[:cap(doc.Sessions)])
	*doc = SessionsDoc{Sessions: doc.Sessions[:0]}
	return json.Unmarshal(data, doc)
}

// pageReader reads one page. Each method returns false where the input
// leaves the common shape: a syntax error, a value of the wrong type, a
// key that only matches a field without regard to case, or a key with
// escapes or non-ASCII letters.
type pageReader struct {
	b []byte
	i int
}

func (p *pageReader) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips space and returns the next byte, or 0 at the end.
func (p *pageReader) next() byte {
	p.space()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

func (p *pageReader) page(doc *SessionsDoc) bool {
	if p.next() != '{' {
		return false
	}
	p.i++
	ok := p.members(func(key []byte) bool {
		switch {
		case string(key) == pageSessions:
			return p.sessions(doc)
		case string(key) == pageToken:
			switch p.next() {
			case '"':
				s, ok := p.str()
				doc.NextPageToken = s
				return ok
			case 'n':
				return p.literal("null")
			}
			return false
		case bytes.EqualFold(key, []byte(pageSessions)) || bytes.EqualFold(key, []byte(pageToken)):
			return false
		}
		return p.skip()
	})
	if !ok {
		return false
	}
	p.space()
	return p.i == len(p.b)
}

// members reads an object's members after its '{' through its '}',
// calling member with each key, positioned at the value.
func (p *pageReader) members(member func(key []byte) bool) bool {
	if p.next() == '}' {
		p.i++
		return true
	}
	for {
		if p.next() != '"' {
			return false
		}
		key, ok := p.key()
		if !ok || p.next() != ':' {
			return false
		}
		p.i++
		if !member(key) {
			return false
		}
		switch p.next() {
		case ',':
			p.i++
		case '}':
			p.i++
			return true
		default:
			return false
		}
	}
}

// key reads a key made of printable ASCII without escapes.
func (p *pageReader) key() ([]byte, bool) {
	start := p.i + 1
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			p.i = j + 1
			return p.b[start:j], true
		case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
			return nil, false
		}
	}
	return nil, false
}

func (p *pageReader) sessions(doc *SessionsDoc) bool {
	switch p.next() {
	case 'n':
		doc.Sessions = nil
		return p.literal("null")
	case '[':
		p.i++
	default:
		return false
	}
	s := doc.Sessions[:0]
	if p.next() == ']' {
		p.i++
		doc.Sessions = []SessionDoc{}
		return true
	}
	for {
		// As encoding/json: decode into the next element in place.
		if len(s) < cap(s) {
			s = s[:len(s)+1]
		} else {
			s = append(s, SessionDoc{})
		}
		if !p.session(&s[len(s)-1]) {
			return false
		}
		switch p.next() {
		case ',':
			p.i++
		case ']':
			p.i++
			doc.Sessions = s
			return true
		default:
			return false
		}
	}
}

func (p *pageReader) session(d *SessionDoc) bool {
	switch p.next() {
	case 'n':
		return p.literal("null")
	case '{':
		p.i++
	default:
		return false
	}
	return p.members(func(key []byte) bool {
		f, ok := sessionNames[string(key)]
		if !ok {
			for name := range sessionNames {
				if bytes.EqualFold(key, []byte(name)) {
					return false
				}
			}
			return p.skip()
		}
		c := p.next()
		if c == 'n' {
			// null leaves a string or bool as it is and clears a pointer.
			if ptr, isPtr := sessionFields[f](d).(**string); isPtr {
				*ptr = nil
			}
			return p.literal("null")
		}
		switch ptr := sessionFields[f](d).(type) {
		case *string:
			if c != '"' {
				return false
			}
			*ptr, ok = p.str()
			return ok
		case **string:
			if c != '"' {
				return false
			}
			s, ok := p.str()
			*ptr = &s
			return ok
		case *bool:
			switch c {
			case 't':
				*ptr = true
				return p.literal("true")
			case 'f':
				*ptr = false
				return p.literal("false")
			}
		}
		return false
	})
}

func (p *pageReader) literal(lit string) bool {
	if !bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
		return false
	}
	p.i += len(lit)
	return true
}

// str reads a string value. Plain ASCII and valid UTF-8 are copied as they
// are; a string with escapes or invalid UTF-8 is unquoted by encoding/json,
// which knows its rules for both.
func (p *pageReader) str() (string, bool) {
	start := p.i + 1
	plain := true
	for j := start; j < len(p.b); j++ {
		switch c := p.b[j]; {
		case c == '"':
			raw := p.b[start:j]
			p.i = j + 1
			if plain || utf8.Valid(raw) {
				return string(raw), true
			}
			return unquote(p.b[start-1 : j+1])
		case c == '\\':
			end, ok := stringEnd(p.b, j)
			if !ok {
				return "", false
			}
			p.i = end
			return unquote(p.b[start-1 : end])
		case c < 0x20:
			return "", false
		case c >= utf8.RuneSelf:
			plain = false
		}
	}
	return "", false
}

// stringEnd returns the index just past the closing quote of the string
// that contains position j.
func stringEnd(b []byte, j int) (int, bool) {
	for ; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1, true
		}
	}
	return 0, false
}

func unquote(lit []byte) (string, bool) {
	var s string
	err := json.Unmarshal(lit, &s)
	return s, err == nil
}

// maxSkipDepth matches encoding/json's nesting limit.
const maxSkipDepth = 10000

// skip passes over a value of an unknown field, which must be valid JSON.
func (p *pageReader) skip() bool {
	if p.next() == 0 {
		return false
	}
	start, depth := p.i, 0
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch c {
		case '"':
			end, ok := stringEnd(p.b, p.i+1)
			if !ok {
				return false
			}
			p.i = end
		case '{', '[':
			if depth++; depth > maxSkipDepth {
				return false
			}
			p.i++
		case '}', ']':
			if depth == 0 { // the end of the object holding the value
				return json.Valid(p.b[start:p.i])
			}
			depth--
			p.i++
		case ',':
			if depth == 0 {
				return json.Valid(p.b[start:p.i])
			}
			p.i++
		default:
			p.i++
		}
		if depth == 0 && (c == '"' || c == '}' || c == ']') {
			return json.Valid(p.b[start:p.i])
		}
	}
	return json.Valid(p.b[start:p.i])
}
