package probe

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// plainSource has no raw documents but has denials: a FlexLM-like source.
type plainSource struct{}

func (plainSource) Licenses(context.Context) (*source.Snapshot, error) {
	return &source.Snapshot{AccountID: "A", Licenses: []source.License{{ID: "L", Product: "P", Seats: 3, InUse: 1}}}, nil
}

func (plainSource) EachSession(_ context.Context, visit func(*source.Session)) error {
	visit(&source.Session{ID: "S", LicenseID: "L", User: "jane", Host: "ws-1"})
	return nil
}

func (plainSource) Host() string { return "lmhost" }

func (plainSource) EachDenial(_ context.Context, _ time.Time, visit func(*source.Denial)) error {
	visit(&source.Denial{})
	visit(&source.Denial{})
	return nil
}

func TestProbeWithoutRawDocuments(t *testing.T) {
	p := &prober{scrub: newScrubber(nil, false), now: time.Now}
	sc := &config.Source{Name: "lm", Type: "flexlm", Timeout: model.Duration(time.Second)}
	rep := p.probe(context.Background(), sc, plainSource{})
	if rep.Failure != nil || rep.Read == nil || rep.Read.Sessions != 1 || rep.Read.Users != 1 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Denials != "2 read" {
		t.Errorf("denials %q", rep.Denials)
	}
	var b strings.Builder
	if err := rep.WriteText(&b); err != nil {
		t.Fatal(err)
	}
	// Nothing could be compared with a model, and the report says so.
	if !strings.Contains(b.String(), "not checked: this source does not offer its raw documents") || rep.ExitCode() != ExitOK {
		t.Errorf("exit %d:\n%s", rep.ExitCode(), b.String())
	}
	if strings.Contains(b.String(), "jane") || strings.Contains(b.String(), "ws-1") {
		t.Errorf("the report names a user:\n%s", b.String())
	}
}

// rawFailing answers 502 with a proxy's page, as CSI's client would
// report it.
type rawFailing struct{ plainSource }

func (rawFailing) ReadRaw(_ context.Context, visit func(*source.RawDoc) error) (*source.Snapshot, error) {
	if err := visit(&source.RawDoc{Name: "GET licenses", Endpoint: "licenses", Status: 502, ContentType: "text/html",
		Body: []byte("<html><title>502 Bad Gateway</title> jane</html>")}); err != nil {
		return nil, err
	}
	return nil, &source.Error{Reason: source.ReasonHTTP5xx, Op: "GET licenses", Status: 502}
}

func TestProbeErrorPageShown(t *testing.T) {
	p := &prober{scrub: newScrubber(nil, false), now: time.Now}
	p.scrub.personal("user", "jane")
	sc := &config.Source{Name: "x", Type: "csi", Timeout: model.Duration(time.Second)}
	rep := p.probe(context.Background(), sc, rawFailing{})
	var b strings.Builder
	rep.WriteText(&b)
	for _, w := range []string{"reason        http_5xx", "HTTP status   502", `Content-Type  "text/html"`, `body starts   "<html><title>502 Bad Gateway</title> user-0001</html>"`} {
		if !strings.Contains(b.String(), w) {
			t.Errorf("the report lacks %q:\n%s", w, b.String())
		}
	}
	if rep.ExitCode() != ExitFailed {
		t.Errorf("exit %d", rep.ExitCode())
	}
}

// noDenials is an account whose source has the capability but answers
// that it keeps no denials (CSI's 404).
type noDenials struct{ plainSource }

func (noDenials) EachDenial(context.Context, time.Time, func(*source.Denial)) error {
	return source.ErrNotSupported
}

func TestProbeAccountWithoutDenials(t *testing.T) {
	p := &prober{scrub: newScrubber(nil, false), now: time.Now}
	sc := &config.Source{Name: "lm", Type: "flexlm", Timeout: model.Duration(time.Second)}
	if rep := p.probe(context.Background(), sc, noDenials{}); rep.Denials != "not offered by this account" || rep.ExitCode() != ExitOK {
		t.Errorf("denials %q, exit %d", rep.Denials, rep.ExitCode())
	}
}
