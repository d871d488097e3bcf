package sidecar

import (
	"bytes"
	"strings"
	"testing"
)

// A large account's page shows a bounded table and says so.
func TestPageRowCap(t *testing.T) {
	snap, p := bigSnapshot(maxPageRows+500), benchPolicyT(t)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	v := buildView(snap, p, id, &g, "", false, testNow)
	var buf bytes.Buffer
	if err := pageTmpl.ExecuteTemplate(&buf, "index.html", newPageView(v)); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(buf.String(), "<tr data-session-id="); n != maxPageRows {
		t.Errorf("%d rows, want %d", n, maxPageRows)
	}
	if !strings.Contains(buf.String(), "1500 sessions, the first 1000 shown") {
		t.Error("the caption does not say rows are hidden")
	}
	if len(v.Sessions) != maxPageRows+500 {
		t.Errorf("the JSON view lost sessions: %d", len(v.Sessions))
	}
}
