package probe

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/source/csi"
)

var (
	licensesType = reflect.TypeFor[csi.LicensesDoc]()
	sessionsType = reflect.TypeFor[csi.SessionsDoc]()
)

// byPath indexes findings as "kind path".
func byPath(fs []Finding) map[string]Finding {
	out := map[string]Finding{}
	for _, f := range fs {
		out[string(f.Kind)+" "+f.Path] = f
	}
	return out
}

func TestAnalysisFindings(t *testing.T) {
	a := newAnalysis(nil)
	docs := []string{
		`{"account":{"id":"A","name":"N","tier":"gold"},"licenses":[
			{"id":"L1","product":"ETABS","type":"network","seats":1,"in_use":0,"pool":{"a":[1,{"b":2}]}},
			{"id":"L2","product":"SAFE","type":"network","seats":"3","in_use":null,"pool":7},
			{"ID":"L3","product":"SAFE","type":"network","seats":2.5,"in_use":1}
		],"extra":1}`,
		`{"licenses":[{"id":"L4","type":"network","seats":1,"in_use":1,"checked_out":true}],"generated_at":12}`,
	}
	for _, d := range docs {
		if stop := a.Add([]byte(d), licensesType); stop != nil {
			t.Fatalf("%s: stopped at %+v", d, stop)
		}
	}
	got := byPath(a.Findings())
	want := map[string]Finding{
		"unknown field $.account.tier":    {Count: 1, Of: 1},
		"unknown field $.extra":           {Count: 1, Of: 2},
		"unknown field $.licenses[].pool": {Count: 2, Of: 4},
		// null counts as missing; "ID" is id, as encoding/json matches keys.
		"missing required field $.licenses[].in_use":  {Count: 1, Of: 4},
		"missing required field $.licenses[].product": {Count: 1, Of: 4},
		"wrong type $.licenses[].seats":               {Count: 2, Of: 4, Expected: "integer", Got: []string{"number", "string"}},
		"wrong type $.licenses[].checked_out":         {Count: 1, Of: 4, Expected: "integer", Got: []string{"boolean"}},
		"wrong type $.generated_at":                   {Count: 1, Of: 2, Expected: "string", Got: []string{"integer"}},
	}
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("missing finding %s", k)
			continue
		}
		if g.Count != w.Count || g.Of != w.Of || g.Expected != w.Expected || !reflect.DeepEqual(g.Got, w.Got) {
			t.Errorf("%s: %+v, want count %d of %d, expected %q, got %v", k, g, w.Count, w.Of, w.Expected, w.Got)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("unexpected finding %s", k)
		}
	}
	if a.Documents != 2 {
		t.Errorf("%d documents", a.Documents)
	}
}

// A well-formed document of the model has nothing to report, and the
// people in it are handed to the callback.
func TestAnalysisCleanAndPersonal(t *testing.T) {
	var people []string
	a := newAnalysis(func(cat, v string) { people = append(people, cat+"="+v) })
	doc := csi.SessionsDoc{Sessions: []csi.SessionDoc{{
		ID: "S1", LicenseID: "L1", User: "jane@x", DisplayName: "Jane", Host: "WS-1", StartedAt: "2026-01-01T00:00:00Z",
		CheckoutExpiresAt: csi.String("2026-01-02T00:00:00Z"),
	}}}
	b, _ := json.Marshal(doc)
	if stop := a.Add(b, sessionsType); stop != nil {
		t.Fatal(stop)
	}
	if fs := a.Findings(); len(fs) != 0 {
		t.Fatalf("findings in a document of the model: %+v", fs)
	}
	if strings.Join(people, ",") != "user=jane@x,name=Jane,host=WS-1" {
		t.Errorf("people %v", people)
	}
}

func TestAnalysisSyntaxStop(t *testing.T) {
	for _, c := range []struct {
		body   string
		offset int64
		path   string
		why    string
	}{
		{"<!DOCTYPE html>", 1, "$", "invalid character '<'"},
		{``, 0, "$", "the body is empty"},
		{`{"sessions":[{"id":"S1"},{"id":"S2","user":"ja`, 46, "$.sessions[1].user", "the body ended"},
		{`{"sessions":[{"id":"S1","host":tru}]}`, 35, "$.sessions[0].host", "invalid character '}'"},
		{`{"sessions":[]} {}`, 17, "$", "data after the JSON document"},
		{`{"sessions":[],}`, 16, "$", "invalid character '}'"},
	} {
		stop := newAnalysis(nil).Add([]byte(c.body), sessionsType)
		if stop == nil {
			t.Errorf("%q: no stop", c.body)
			continue
		}
		if stop.Offset != c.offset || stop.Path != c.path || !strings.Contains(stop.Why, c.why) {
			t.Errorf("%q: stopped at byte %d, %s: %s; want byte %d, %s: %s", c.body, stop.Offset, stop.Path, stop.Why, c.offset, c.path, c.why)
		}
		// The client reports the same byte for a syntax error.
		var v csi.SessionsDoc
		var syn *json.SyntaxError
		if err := json.Unmarshal([]byte(c.body), &v); asSyntax(err, &syn) && syn.Offset != stop.Offset {
			t.Errorf("%q: byte %d here, %d in encoding/json", c.body, stop.Offset, syn.Offset)
		}
	}
}

func asSyntax(err error, syn **json.SyntaxError) bool {
	s, ok := err.(*json.SyntaxError)
	*syn = s
	return ok
}

// Findings stay bounded however many distinct keys a document has.
func TestAnalysisBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{`)
	for i := range 1000 {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(`"k` + itoa(i) + strings.Repeat("x", 100) + `":1`)
	}
	b.WriteString(`,"sessions":[]}`)
	a := newAnalysis(nil)
	if stop := a.Add([]byte(b.String()), sessionsType); stop != nil {
		t.Fatal(stop)
	}
	fs := a.Findings()
	if len(fs) != maxFindings || a.Dropped != 1000-maxFindings {
		t.Fatalf("%d findings kept, %d dropped", len(fs), a.Dropped)
	}
	for _, f := range fs {
		if len(f.Path) > len("$.")+maxKeyLen+len("…") {
			t.Fatalf("path of %d bytes: %s", len(f.Path), f.Path)
		}
	}
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

// FuzzAnalyze: any body against the CSI documents, without a panic, with
// bounded findings, a stop inside the body, and a scrubbed body that is
// valid JSON whenever the input was.
func FuzzAnalyze(f *testing.F) {
	for _, s := range []string{
		`{"account":{"id":"A"},"licenses":[{"id":"L","product":"P","type":"network","seats":1,"in_use":1,"x":{}}]}`,
		`{"sessions":[{"id":"S","license_id":"L","user":"u@x","host":"h","started_at":"2026-01-01T00:00:00Z"}],"next_page_token":"t"}`,
		`{"sessions":[{"user":"a\u0040b","USER":"c","host":null}]}`,
		`<!DOCTYPE html>`, `{"licenses":[[[[[[[[]]]]]]]]}`, `{"a":1}{"b":2}`, `"`, `{"licenses":[{"seats":1e400}]}`,
	} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, sessions bool) {
		typ := licensesType
		if sessions {
			typ = sessionsType
		}
		sc := newScrubber([]string{"secret-value"}, false)
		a := newAnalysis(sc.personal)
		stop := a.Add(body, typ)
		if stop != nil && (stop.Offset < 0 || stop.Offset > int64(len(body))) {
			t.Fatalf("stop at byte %d of %d", stop.Offset, len(body))
		}
		if fs := a.Findings(); len(fs) > maxFindings {
			t.Fatalf("%d findings", len(fs))
		}
		out := sc.Body(body)
		if json.Valid(body) && !json.Valid(out) {
			t.Fatalf("scrubbing broke the JSON: %q -> %q", body, out)
		}
	})
}
