package csi

import (
	"bytes"
	stdjson "encoding/json"
	"io"
	"reflect"
	"testing"
)

// FuzzDecodeMatchesStdlib holds the fast decoder to encoding/json's
// answers on the wire types: the same documents are accepted, with the
// same values, and the same are refused.
func FuzzDecodeMatchesStdlib(f *testing.F) {
	f.Add(readTestdata(f, "licenses.json"))
	f.Add(readTestdata(f, "sessions-page1.json"))
	f.Add(readTestdata(f, "sessions-page2.json"))
	f.Add([]byte(`{"sessions":[{"id":"S\u00e9\ud83d\ude00","user":"a\"b\\c\nd","checked_out":true,"checkout_expires_at":null}],"next_page_token":"t"}`))
	f.Add([]byte("{\"sessions\":[{\"id\":\"bad \xff utf8\",\"host\":\"\\ud800\"}]}"))
	f.Add([]byte(`{"licenses":[{"id":"L","seats":1e2,"in_use":-0,"checked_out":9223372036854775807}]}`))
	f.Add([]byte(`{"licenses":[{"id":"L","seats":9223372036854775808}]}`))
	f.Add([]byte(`{"LICENSES":[{"ID":"case-insensitive keys, like encoding/json"}],"Account":{"Name":"x"}}`))
	f.Add([]byte(`{"sessions":[{"id":"dup","id":"last wins"}],"extra":{"a":[1,2,{"b":null}]}}`))
	f.Add([]byte(`{"sessions":[null,{}]} `))
	f.Add([]byte(`{"sessions":{}}`))
	f.Add([]byte(`{"sessions":[{"checked_out":"true"}]}`))
	f.Add([]byte(`{"sessions":[]}{}`))
	f.Add(readTestdata(f, "denials-page1.json"))
	f.Add([]byte(`{"denials":[{"id":"D","at":"2026-12-02T09:01:02Z","Product":"case","reason":null}],"next_page_token":""}`))
	c := &Client{maxBytes: 1 << 20}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, newDoc := range []func() any{
			func() any { return new(SessionsDoc) },
			func() any { return new(LicensesDoc) },
			func() any { return new(DenialsDoc) },
		} {
			ours, std := newDoc(), newDoc()
			err := c.decode("fuzz", io.NopCloser(bytes.NewReader(body)), ours)
			stdErr := stdjson.Unmarshal(body, std)
			if (err == nil) != (stdErr == nil) {
				t.Fatalf("%T: decoder says %v, encoding/json says %v", ours, err, stdErr)
			}
			if err == nil && !reflect.DeepEqual(ours, std) {
				t.Fatalf("%T: decoder read %+v, encoding/json %+v", ours, ours, std)
			}
		}
	})
}
