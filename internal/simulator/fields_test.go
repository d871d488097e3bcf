package simulator

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/license-monitor/license-monitor/source/csi"
)

// generic decodes a body as plain JSON, numbers kept as written.
func generic(t *testing.T, r response) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(r.body))
	dec.UseNumber()
	var m map[string]any
	if err := dec.Decode(&m); err != nil {
		t.Fatalf("%d %s: %v", r.status, truncate(r.body), err)
	}
	return m
}

func elems(t *testing.T, v any) []map[string]any {
	t.Helper()
	arr, ok := v.([]any)
	if !ok || len(arr) < 2 {
		t.Fatalf("not an array of two or more: %v", v)
	}
	out := make([]map[string]any, len(arr))
	for i := range arr {
		out[i] = arr[i].(map[string]any)
	}
	return out
}

// The probe's faults change exactly what docs/simulator.md says, and the
// rest of the document decodes as the normal one does.
func TestFieldFaults(t *testing.T) {
	h := start(t, Options{Seed: 1, Start: wed11})
	normal := h.normal()
	normLic := generic(t, normal[EndpointLicenses])
	normSess := generic(t, normal[EndpointSessions])

	t.Run("extra_fields", func(t *testing.T) {
		h.setFault(`{"kind":"extra_fields"}`)
		defer h.setFault(`{"kind":"none"}`)
		lic, sess := h.hit(EndpointLicenses), h.hit(EndpointSessions)
		for _, m := range []map[string]any{generic(t, lic), generic(t, sess)} {
			if _, ok := m["extra"].(map[string]any); !ok {
				t.Errorf("no extra object at the top: %v", m)
			}
		}
		if acct := generic(t, lic)["account"].(map[string]any); acct["region"] == nil {
			t.Errorf("the account has no region: %v", acct)
		}
		for key, r := range map[string]response{"licenses": lic, "sessions": sess} {
			for i, el := range elems(t, generic(t, r)[key]) {
				if _, has := el["note"]; has != (i%2 == 0) {
					t.Errorf("%s[%d] has note: %v, want it on even elements", key, i, has)
				}
			}
		}
		// The known fields are untouched.
		if !reflect.DeepEqual(decode[csi.LicensesDoc](t, lic), decode[csi.LicensesDoc](t, normal[EndpointLicenses])) ||
			!reflect.DeepEqual(decode[csi.SessionsDoc](t, sess), decode[csi.SessionsDoc](t, normal[EndpointSessions])) {
			t.Error("extra_fields changed a field of the model")
		}
	})

	t.Run("missing_field", func(t *testing.T) {
		h.setFault(`{"kind":"missing_field"}`)
		defer h.setFault(`{"kind":"none"}`)
		lics := elems(t, generic(t, h.hit(EndpointLicenses))["licenses"])
		if _, has := lics[0]["seats"]; has {
			t.Error("the first license still has seats")
		}
		if _, has := lics[1]["seats"]; !has {
			t.Error("the second license lost seats too")
		}
		sess := elems(t, generic(t, h.hit(EndpointSessions))["sessions"])
		if _, has := sess[0]["user"]; has {
			t.Error("the first session still has user")
		}
		if got := h.hit(EndpointTerminate); !bytes.Equal(got.body, normal[EndpointTerminate].body) {
			t.Errorf("terminate changed: %s", got.body)
		}
	})

	t.Run("wrong_type", func(t *testing.T) {
		h.setFault(`{"kind":"wrong_type"}`)
		defer h.setFault(`{"kind":"none"}`)
		lic := elems(t, generic(t, h.hit(EndpointLicenses))["licenses"])[0]
		want := elems(t, normLic["licenses"])[0]["seats"].(json.Number).String()
		if s, ok := lic["seats"].(string); !ok || s != want {
			t.Errorf("the first license's seats are %#v, want the string %q", lic["seats"], want)
		}
		sess := elems(t, generic(t, h.hit(EndpointSessions))["sessions"])[0]
		if _, ok := sess["started_at"].(json.Number); !ok {
			t.Errorf("the first session's started_at is %#v, want a number", sess["started_at"])
		}
		if elems(t, normSess["sessions"])[0]["id"] != sess["id"] {
			t.Error("wrong_type changed the session's id")
		}
	})
}

// echo_credentials echoes the request's key and token in every document
// and in the message of a 401, as a careless upstream might.
func TestFaultEchoCredentials(t *testing.T) {
	const key, token = "key-0123456789", "tok-9876543210"
	h := start(t, Options{Seed: 1, Start: wed11, APIKey: key, Token: token})
	h.setFault(`{"kind":"echo_credentials"}`)
	ok := h.get(h.api("licenses")+"?key="+key, "Authorization", "Bearer "+token)
	if ok.status != 200 {
		t.Fatalf("status %d: %s", ok.status, ok.body)
	}
	echo, _ := generic(t, ok)["request"].(map[string]any)
	if u, _ := echo["url"].(string); !strings.Contains(u, "key="+key) {
		t.Errorf("the echoed url %q lacks the key", u)
	}
	if echo["authorization"] != "Bearer "+token {
		t.Errorf("the echoed authorization is %v", echo["authorization"])
	}
	bad := h.get(h.api("sessions")+"?key=wrong-key-42", "Authorization", "Bearer wrong-token-42")
	if e := decode[csi.ErrorDoc](t, bad); bad.status != 401 || !strings.Contains(e.Error.Message, "wrong-key-42") || !strings.Contains(e.Error.Message, "wrong-token-42") {
		t.Errorf("401 message %q does not echo the credentials", e.Error.Message)
	}
	h.setFault(`{"kind":"none"}`)
	if bad := h.get(h.api("sessions")+"?key=wrong-key-42", "Authorization", "Bearer wrong-token-42"); strings.Contains(string(bad.body), "wrong") {
		t.Errorf("without the fault a 401 echoes: %s", bad.body)
	}
}
