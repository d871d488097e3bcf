package sidecar

import (
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// bigSnapshot is an account the size of the simulator's large tier.
func bigSnapshot(sessions int) *source.Snapshot {
	snap := &source.Snapshot{AccountName: "Acme", GeneratedAt: testNow}
	types := []string{csi.TypeCloudSignIn, csi.TypeCloudKey, csi.TypeNetwork, csi.TypeStandalone}
	for i := 0; i < 500; i++ {
		snap.Licenses = append(snap.Licenses, source.License{
			ID: fmt.Sprintf("L-%d", i), Product: fmt.Sprintf("P%d", i%8), Edition: "Ultimate",
			Type: types[i%len(types)], Seats: 50, InUse: 40,
		})
	}
	for i := 0; i < sessions; i++ {
		snap.Sessions = append(snap.Sessions, source.Session{
			ID: fmt.Sprintf("S-%d", i), LicenseID: fmt.Sprintf("L-%d", i%500),
			User: fmt.Sprintf("user%d@acme.example", i%10000), Host: fmt.Sprintf("WS-%06d", i),
			StartedAt: testNow.Add(-time.Duration(i) * time.Second), CheckedOut: i%17 == 0,
		})
	}
	return snap
}

func benchPolicy(b *testing.B) *Policy { return benchPolicyT(b) }

func benchPolicyT(tb testing.TB) *Policy {
	cfg, err := config.LoadSidecar([]byte(`source: {name: a, type: csi, url: "http://127.0.0.1:1/x"}
roles: {admin: [view_monitor, terminate_sessions]}
default_roles: [admin]
`), "")
	if err != nil {
		tb.Fatal(err)
	}
	src, err := cfg.Source.Open("test")
	if err != nil {
		tb.Fatal(err)
	}
	return NewPolicy(cfg, src.(source.Terminator))
}

// BenchmarkBuildView: the JSON view of 20,000 sessions, each judged.
func BenchmarkBuildView(b *testing.B) {
	snap, p := bigSnapshot(20000), benchPolicy(b)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	b.ReportAllocs()
	for b.Loop() {
		buildView(snap, p, id, &g, "", false, testNow)
	}
}

// BenchmarkRenderPage: the HTML page of 20,000 sessions.
func BenchmarkRenderPage(b *testing.B) {
	snap, p := bigSnapshot(20000), benchPolicy(b)
	id := Identity{Name: "user1@acme.example", Source: SourceBasicAuth}
	g := p.GrantOf(id)
	v := buildView(snap, p, id, &g, "", false, testNow)
	w := &countingWriter{}
	b.ReportAllocs()
	for b.Loop() {
		w.n = 0
		if err := pageTmpl.ExecuteTemplate(w, "index.html", newPageView(v)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(w.n), "bytes/page")
}

type countingWriter struct{ n int }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += len(p); return len(p), nil }

var _ io.Writer = (*countingWriter)(nil)
