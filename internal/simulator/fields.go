package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"

	"github.com/license-monitor/license-monitor/source/csi"
)

// The faults for the probe (license_exporter --source.probe, see
// docs/probe.md): documents that differ from the model the way a real
// account's might. The field names come from the wire types' tags, so
// they follow source/csi/wire.go.

// wireName is the JSON name of Go field goField of wire type T.
func wireName[T any](goField string) string {
	f, ok := reflect.TypeFor[T]().FieldByName(goField)
	if !ok {
		panic("simulator: no wire field " + goField)
	}
	name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name
}

var (
	licensesKey = wireName[csi.LicensesDoc]("Licenses")
	sessionsKey = wireName[csi.SessionsDoc]("Sessions")
	// missing_field drops these from the first license and session.
	missingLicenseField = wireName[csi.LicenseDoc]("Seats")
	missingSessionField = wireName[csi.SessionDoc]("User")
	// wrong_type sends these as the wrong JSON type: seats as a string,
	// started_at as Unix seconds.
	wrongLicenseField = wireName[csi.LicenseDoc]("Seats")
	wrongSessionField = wireName[csi.SessionDoc]("StartedAt")
)

// Names of the fields extra_fields and echo_credentials add; the model
// has none of them.
const (
	ExtraRootField    = "extra"   // on every document
	ExtraObjectField  = "region"  // in every object at the top level (the account)
	ExtraElementField = "note"    // in every other element of a top-level array, the first included
	EchoField         = "request" // echo_credentials: {"url": ..., "authorization": ...}
)

// echoOf is what echo_credentials echoes of r: its URL with the query
// (where a key is) and its Authorization header.
func echoOf(r *http.Request) map[string]string {
	return map[string]string{"url": "http://" + r.Host + r.URL.RequestURI(), "authorization": r.Header.Get("Authorization")}
}

// echoMessage is a 401's message under echo_credentials, as a careless
// upstream writes it.
func echoMessage(r *http.Request) string {
	return fmt.Sprintf("missing or invalid credentials: got key %q and authorization %q", r.URL.Query().Get("key"), r.Header.Get("Authorization"))
}

// reshape applies a field fault to a JSON object body; other bodies pass
// as they are.
func reshape(body []byte, f Fault) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil || m == nil {
		return body
	}
	first := func(key string) map[string]any {
		if arr, ok := m[key].([]any); ok && len(arr) > 0 {
			el, _ := arr[0].(map[string]any)
			return el
		}
		return nil
	}
	switch f.Kind {
	case FaultExtraFields:
		for _, v := range m {
			switch v := v.(type) {
			case map[string]any:
				v[ExtraObjectField] = "eu-west"
			case []any:
				for i := 0; i < len(v); i += 2 {
					if el, ok := v[i].(map[string]any); ok {
						el[ExtraElementField] = "added by the simulator"
					}
				}
			}
		}
		m[ExtraRootField] = map[string]any{"api_revision": 7}
	case FaultMissingField:
		if l := first(licensesKey); l != nil {
			delete(l, missingLicenseField)
		}
		if s := first(sessionsKey); s != nil {
			delete(s, missingSessionField)
		}
	case FaultWrongType:
		if l := first(licensesKey); l != nil {
			l[wrongLicenseField] = fmt.Sprint(l[wrongLicenseField])
		}
		if s := first(sessionsKey); s != nil {
			s[wrongSessionField] = 1764576000
		}
	case FaultEchoCredentials:
		m[EchoField] = f.echo
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(m) != nil {
		return body
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}
