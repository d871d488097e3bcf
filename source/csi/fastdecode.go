package csi

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"
)

// The documents of a poll, above all the sessions pages (200 pages of
// 1,000 sessions for a large account), are decoded here directly rather
// than by encoding/json, which goes through reflection for every value and
// is about four times slower on a page. fastDecode reads the common shape
// of the wire types: objects, arrays, strings, booleans, integers and
// null. Whatever else it meets (a value of the wrong type, a key matching
// a field only without regard to case, a syntax error) it hands the whole
// document to encoding/json, so the result, error or value, is always
// encoding/json's; FuzzDecodeMatchesStdlib holds it to that.
//
// The JSON names come from the struct tags in wire.go, which stays the
// only place that spells them.

// fastDecode decodes data into v (a pointer to a wire type) exactly as
// json.Unmarshal does.
func fastDecode(data []byte, v any) error {
	rv := reflect.ValueOf(v).Elem()
	p := pageReader{b: data}
	if p.value(rv) {
		p.space()
		if p.i == len(data) {
			return nil
		}
	}
	// encoding/json decides, from the zero value.
	rv.SetZero()
	return json.Unmarshal(data, v)
}

// structFields are a wire type's fields by JSON name.
type structFields struct {
	byName map[string]int
	names  []string
}

var fieldCache sync.Map // reflect.Type -> *structFields

func fieldsOf(t reflect.Type) *structFields {
	if f, ok := fieldCache.Load(t); ok {
		return f.(*structFields)
	}
	sf := &structFields{byName: map[string]int{}}
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue // not a wire field; encoding/json would use the Go name
		}
		sf.byName[name] = i
		sf.names = append(sf.names, name)
	}
	f, _ := fieldCache.LoadOrStore(t, sf)
	return f.(*structFields)
}

// pageReader reads one document. Each method returns false where the
// input leaves the common shape.
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

// value reads one value into v, as encoding/json would.
func (p *pageReader) value(v reflect.Value) bool {
	c := p.next()
	if c == 'n' {
		// null clears pointers and slices and leaves the rest as it is.
		if k := v.Kind(); k == reflect.Pointer || k == reflect.Slice {
			v.SetZero()
		}
		return p.literal("null")
	}
	switch v.Kind() {
	case reflect.String:
		if c != '"' {
			return false
		}
		s, ok := p.str()
		v.SetString(s)
		return ok
	case reflect.Bool:
		switch c {
		case 't':
			v.SetBool(true)
			return p.literal("true")
		case 'f':
			v.SetBool(false)
			return p.literal("false")
		}
		return false
	case reflect.Int64:
		n, ok := p.integer()
		v.SetInt(n)
		return ok
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return p.value(v.Elem())
	case reflect.Struct:
		if c != '{' {
			return false
		}
		p.i++
		return p.object(v)
	case reflect.Slice:
		if c != '[' {
			return false
		}
		p.i++
		return p.array(v)
	}
	return false
}

// object reads an object's members after its '{' through its '}'.
func (p *pageReader) object(v reflect.Value) bool {
	fields := fieldsOf(v.Type())
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
		if !p.member(v, fields, key) {
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

// member reads the value of key into its field of v, or skips it when v
// has no such field.
func (p *pageReader) member(v reflect.Value, fields *structFields, key []byte) bool {
	if i, ok := fields.byName[string(key)]; ok {
		return p.value(v.Field(i))
	}
	for _, name := range fields.names {
		if bytes.EqualFold(key, []byte(name)) {
			return false
		}
	}
	return p.skip()
}

// array decodes into the slice's elements in place, growing it as
// needed, as encoding/json does.
func (p *pageReader) array(v reflect.Value) bool {
	if p.next() == ']' {
		p.i++
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
		return true
	}
	for i := 0; ; i++ {
		if i >= v.Cap() {
			v.Grow(1)
		}
		v.SetLen(i + 1)
		if !p.value(v.Index(i)) {
			return false
		}
		switch p.next() {
		case ',':
			p.i++
		case ']':
			p.i++
			return true
		default:
			return false
		}
	}
}

// integer reads a JSON number that is an int64; anything else (a
// fraction, an exponent, an overflow) is left to encoding/json.
func (p *pageReader) integer() (int64, bool) {
	start := p.i
	j := start
	if j < len(p.b) && p.b[j] == '-' {
		j++
	}
	digits := j
	for j < len(p.b) && p.b[j] >= '0' && p.b[j] <= '9' {
		j++
	}
	if j == digits || (p.b[digits] == '0' && j > digits+1) {
		return 0, false
	}
	if j < len(p.b) {
		switch p.b[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(p.b[start:j]), 10, 64)
	p.i = j
	return n, err == nil
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
