package probe

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScrubberBody(t *testing.T) {
	const secret = "s3cr3t/key+value"
	s := newScrubber([]string{secret, "ab"}, false)
	s.personal("user", "jane.doe@acme.example")
	s.personal("user", "jo") // too short to look for inside other text
	s.personal("host", "WS-042")
	s.personal("user", "jane.doe@acme.example") // again: the same pseudonym

	body := `{"user":"jane.doe@acme.example","u2":"jo","note":"jo and jane.doe@acme.example on WS-042",` +
		`"esc":"s3cr3t\/key\u002bvalue","url":"https://x/?key=s3cr3t/key+value","short":"ab","cab":"cab"}`
	out := s.Body([]byte(body))
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("not JSON any more: %s", out)
	}
	want := map[string]string{
		"user": "user-0001", "u2": "user-0002",
		"note": "jo and user-0001 on host-0001",
		"esc":  Redacted, "url": "https://x/?key=" + Redacted,
		"short": Redacted, "cab": "cab",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %q, want %q", k, got[k], w)
		}
	}

	// Not JSON: scrubbed as text too.
	html := "<p>jane.doe@acme.example used s3cr3t/key+value on WS-042</p>"
	if got := string(s.Body([]byte(html))); got != "<p>user-0001 used "+Redacted+" on host-0001</p>" {
		t.Errorf("html scrubbed to %q", got)
	}
	// A cut-off string at the end is scrubbed as text.
	if got := string(s.Body([]byte(`{"user":"jane.doe@acme.example`))); strings.Contains(got, "jane") {
		t.Errorf("cut body scrubbed to %q", got)
	}
}

func TestScrubberShowUsers(t *testing.T) {
	s := newScrubber([]string{"the-secret"}, true)
	s.personal("user", "jane.doe@acme.example")
	if got := s.Text("jane.doe@acme.example holds the-secret"); got != "jane.doe@acme.example holds "+Redacted {
		t.Errorf("%q", got)
	}
	if s.distinct("user") != 1 {
		t.Error("the user was not counted")
	}
}

// A person whose name is part of a pseudonym does not get it twice. (A
// key equal to a person's value is replaced too: keys can be user names.)
func TestScrubberOnePass(t *testing.T) {
	s := newScrubber(nil, false)
	s.personal("user", "user")
	s.personal("host", "host-0001x")
	for body, want := range map[string]string{
		`{"user":"user","h":"on host-0001x"}`:    `{"user-0001":"user-0001","h":"on host-0001"}`,
		`<p title="user">user on host-0001x</p>`: `<p title="user-0001">user-0001 on host-0001</p>`,
	} {
		if got := string(s.Body([]byte(body))); got != want {
			t.Errorf("%s scrubbed to %s, want %s", body, got, want)
		}
	}
}
