package probe

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/license-monitor/license-monitor/source"
)

// JSON types as the report names them.
const (
	typeObject  = "object"
	typeArray   = "array"
	typeString  = "string"
	typeInteger = "integer"
	typeNumber  = "number"
	typeBoolean = "boolean"
	typeNull    = "null"
	typeAny     = "any"
)

// FindingKind says what a Finding is.
type FindingKind string

// The kinds of findings. JSON sources report the first three; a
// line-based source (FlexLM's lmstat) reports the lines its parser
// skipped as FindingSkippedLine, with the line as Path.
const (
	FindingUnknown     FindingKind = "unknown field"
	FindingMissing     FindingKind = "missing required field"
	FindingWrongType   FindingKind = "wrong type"
	FindingSkippedLine FindingKind = "skipped line"
)

// Finding is one thing a source sent that its model does not have, or
// lacked, counted over the documents of one endpoint.
type Finding struct {
	Kind FindingKind
	// Path is a field's path, $ being the document: $.licenses[].foo.
	Path  string
	Count int // objects (or lines) where it was found
	Of    int // objects at the parent path, 0 when not counted
	// Expected and Got are the model's JSON type and the types found,
	// for FindingWrongType.
	Expected string
	Got      []string
}

// SyntaxStop is where a document stopped being JSON.
type SyntaxStop struct {
	Offset int64  // bytes read before the decoder stopped
	Path   string // where in the document, with indices: $.sessions[17].user
	Why    string
}

// node is the model of one JSON value, derived from a wire type.
type node struct {
	kind   string
	path   string   // from the document's root: each node has one, as a shape is a tree
	fields []*field // object, in declaration order
	elem   *node    // array
}

type field struct {
	name     string
	node     *node
	required bool
	pii      string // "user", "host", "name" or ""
}

var shapes sync.Map // reflect.Type -> *node

// shapeOf derives the model of t from its json and wire tags, as
// encoding/json decodes into t.
func shapeOf(t reflect.Type) *node {
	if n, ok := shapes.Load(t); ok {
		return n.(*node)
	}
	n := deriveShape(t, 0, "$")
	actual, _ := shapes.LoadOrStore(t, n)
	return actual.(*node)
}

// maxShapeDepth stops a recursive wire type; the CSI types are 3 deep.
const maxShapeDepth = 16

func deriveShape(t reflect.Type, depth int, path string) *node {
	if depth > maxShapeDepth {
		return &node{kind: typeAny, path: path}
	}
	switch t.Kind() {
	case reflect.Pointer:
		return deriveShape(t.Elem(), depth+1, path)
	case reflect.String:
		return &node{kind: typeString, path: path}
	case reflect.Bool:
		return &node{kind: typeBoolean, path: path}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return &node{kind: typeInteger, path: path}
	case reflect.Float32, reflect.Float64:
		return &node{kind: typeNumber, path: path}
	case reflect.Slice, reflect.Array:
		return &node{kind: typeArray, path: path, elem: deriveShape(t.Elem(), depth+1, path+"[]")}
	case reflect.Struct:
		n := &node{kind: typeObject, path: path}
		for f := range t.Fields() {
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if !f.IsExported() || name == "-" {
				continue
			}
			if name == "" {
				name = f.Name
			}
			fd := &field{name: name, node: deriveShape(f.Type, depth+1, path+"."+name)}
			for _, opt := range strings.Split(f.Tag.Get(source.WireTag), ",") {
				switch {
				case opt == "required":
					fd.required = true
				case strings.HasPrefix(opt, "pii="):
					fd.pii = strings.TrimPrefix(opt, "pii=")
				}
			}
			n.fields = append(n.fields, fd)
		}
		return n
	}
	return &node{kind: typeAny, path: path}
}

// lookup finds key's field as encoding/json does: the exact name, else
// one that matches without regard to case.
func (n *node) lookup(key string) *field {
	for _, f := range n.fields {
		if f.name == key {
			return f
		}
	}
	for _, f := range n.fields {
		if strings.EqualFold(f.name, key) {
			return f
		}
	}
	return nil
}

// Bounds that keep an analysis small whatever the document: distinct
// findings per analysis, and the length of a key as printed.
const (
	maxFindings = 256
	maxKeyLen   = 64
)

// Analysis compares the documents of one endpoint with their wire type.
// The zero value is not usable; see newAnalysis.
type Analysis struct {
	Documents int
	findings  map[string]*Finding // by kind and path
	order     []string
	objects   map[string]int // objects seen by path
	Dropped   int            // findings past maxFindings, not kept
	// personal is called with each value of a pii field.
	personal func(category, value string)
}

func newAnalysis(personal func(category, value string)) *Analysis {
	if personal == nil {
		personal = func(string, string) {}
	}
	return &Analysis{findings: map[string]*Finding{}, objects: map[string]int{}, personal: personal}
}

// Findings lists what was found, unknown fields first, each sorted by path.
func (a *Analysis) Findings() []Finding {
	out := make([]Finding, 0, len(a.order))
	for _, k := range a.order {
		f := *a.findings[k]
		parent := f.Path
		if i := strings.LastIndexByte(parent, '.'); i > 0 {
			parent = parent[:i]
		}
		if !strings.HasSuffix(f.Path, "]") {
			f.Of = a.objects[parent]
		}
		f.Got = append([]string(nil), f.Got...)
		sort.Strings(f.Got)
		out = append(out, f)
	}
	rank := map[FindingKind]int{FindingUnknown: 0, FindingMissing: 1, FindingWrongType: 2, FindingSkippedLine: 3}
	sort.SliceStable(out, func(i, j int) bool {
		if rank[out[i].Kind] != rank[out[j].Kind] {
			return rank[out[i].Kind] < rank[out[j].Kind]
		}
		return out[i].Path < out[j].Path
	})
	return out
}

func (a *Analysis) add(kind FindingKind, path, expected, got string) {
	k := string(kind) + "\x00" + path
	f := a.findings[k]
	if f == nil {
		if len(a.findings) >= maxFindings {
			a.Dropped++
			return
		}
		f = &Finding{Kind: kind, Path: path, Expected: expected}
		a.findings[k] = f
		a.order = append(a.order, k)
	}
	f.Count++
	if got != "" && !contains(f.Got, got) {
		f.Got = append(f.Got, got)
	}
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// errDepth ends the skipping of a value nested deeper than any document
// of an API needs; it bounds the skip's work and the decoder's stack.
var errDepth = errors.New("nested deeper than 1000 levels")

const maxSkipDepth = 1000

// Add analyses one document of wire type t. It returns where the body
// stopped being JSON, or nil when it is one JSON document.
func (a *Analysis) Add(body []byte, t reflect.Type) *SyntaxStop {
	a.Documents++
	w := &walker{a: a, dec: json.NewDecoder(bytes.NewReader(body)), body: body}
	w.dec.UseNumber()
	w.loc = []string{"$"}
	tok, err := w.dec.Token()
	if err == nil {
		err = w.value(tok, shapeOf(t))
	}
	if err == nil {
		if _, err = w.dec.Token(); err == io.EOF {
			return nil
		}
		if err == nil {
			err = errors.New("data after the JSON document")
		}
		w.loc = []string{"$"}
	}
	return w.stop(err, int64(len(body)))
}

type walker struct {
	a    *Analysis
	dec  *json.Decoder
	body []byte
	loc  []string // where the decoder is, with indices
}

func (w *walker) stop(err error, size int64) *SyntaxStop {
	s := &SyntaxStop{Offset: w.dec.InputOffset(), Path: strings.Join(w.loc, ""), Why: err.Error()}
	var syn *json.SyntaxError
	switch {
	case errors.As(err, &syn):
		// A Decoder's offsets are not always the byte's; encoding/json's
		// whole-document check is, and it is what the client reports.
		s.Offset = syn.Offset
		var v any
		if errors.As(json.Unmarshal(w.body, &v), &syn) {
			s.Offset = syn.Offset
		}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		s.Offset = size
		s.Why = "the body ended before the JSON document did"
		if size == 0 {
			s.Why = "the body is empty"
		}
	}
	return s
}

func jsonType(tok json.Token) string {
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return typeObject
		}
		return typeArray
	case string:
		return typeString
	case bool:
		return typeBoolean
	case json.Number:
		if strings.ContainsAny(string(v), ".eE") {
			return typeNumber
		}
		if _, err := v.Int64(); err != nil {
			return typeNumber
		}
		return typeInteger
	case nil:
		return typeNull
	}
	return typeAny
}

// value checks the value that starts with tok against n.
func (w *walker) value(tok json.Token, n *node) error {
	got := jsonType(tok)
	switch {
	case got == typeNull:
		return nil // encoding/json accepts null for every type
	case n.kind == typeAny:
		return w.skip(tok)
	case got != n.kind && (n.kind != typeNumber || got != typeInteger):
		w.a.add(FindingWrongType, n.path, n.kind, got)
		return w.skip(tok)
	case n.kind == typeObject:
		return w.object(n)
	case n.kind == typeArray:
		return w.array(n)
	}
	return nil
}

func (w *walker) object(n *node) error {
	path := n.path
	w.a.objects[path]++
	present := make([]bool, len(n.fields))
	depth := len(w.loc)
	for w.dec.More() {
		kt, err := w.dec.Token()
		if err != nil {
			return err
		}
		key, _ := kt.(string)
		w.loc = append(w.loc[:depth], "."+printable(key))
		vt, err := w.dec.Token()
		if err != nil {
			return err
		}
		f := n.lookup(key)
		if f == nil {
			w.a.add(FindingUnknown, path+"."+printable(key), "", "")
			if err := w.skip(vt); err != nil {
				return err
			}
			w.loc = w.loc[:depth]
			continue
		}
		i := indexOf(n.fields, f)
		if vt != nil {
			present[i] = true
		}
		if s, ok := vt.(string); ok && f.pii != "" {
			w.a.personal(f.pii, s)
		}
		if err := w.value(vt, f.node); err != nil {
			return err
		}
		w.loc = w.loc[:depth]
	}
	w.loc = w.loc[:depth]
	if _, err := w.dec.Token(); err != nil { // '}'
		return err
	}
	for i, f := range n.fields {
		if f.required && !present[i] {
			w.a.add(FindingMissing, f.node.path, "", "")
		}
	}
	return nil
}

func indexOf(fs []*field, f *field) int {
	for i := range fs {
		if fs[i] == f {
			return i
		}
	}
	return -1
}

func (w *walker) array(n *node) error {
	depth := len(w.loc)
	for i := 0; w.dec.More(); i++ {
		w.loc = append(w.loc[:depth], "["+strconv.Itoa(i)+"]")
		tok, err := w.dec.Token()
		if err != nil {
			return err
		}
		if err := w.value(tok, n.elem); err != nil {
			return err
		}
	}
	w.loc = w.loc[:depth]
	_, err := w.dec.Token() // ']'
	return err
}

// skip passes over the rest of a value that starts with tok.
func (w *walker) skip(tok json.Token) error {
	if d, ok := tok.(json.Delim); !ok || (d != '{' && d != '[') {
		return nil
	}
	for depth := 1; depth > 0; {
		t, err := w.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := t.(json.Delim); ok {
			switch d {
			case '{', '[':
				if depth++; depth > maxSkipDepth {
					return errDepth
				}
			default:
				depth--
			}
		}
	}
	return nil
}

// printable keeps a key short and free of control characters for the
// report; the report's scrubber removes secrets and names from it.
func printable(key string) string {
	key = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return '?'
		}
		return r
	}, key)
	if len(key) > maxKeyLen {
		cut := maxKeyLen
		for cut > 0 && !utf8RuneStart(key[cut]) {
			cut--
		}
		key = key[:cut] + "…"
	}
	return key
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
