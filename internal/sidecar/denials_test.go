package sidecar

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/license-monitor/license-monitor/source"
)

// denialsUpstream is an Upstream with denials; only EachDenial is called.
type denialsUpstream struct {
	Upstream
	events []source.Denial
	err    error
	since  time.Time
}

func (d *denialsUpstream) EachDenial(_ context.Context, since time.Time, visit func(*source.Denial)) error {
	d.since = since
	for i := range d.events {
		e := d.events[i]
		visit(&e)
	}
	return d.err
}

func TestReadDenials(t *testing.T) {
	at := func(m int) time.Time { return testNow.Add(time.Duration(m) * time.Minute) }
	up := &denialsUpstream{events: []source.Denial{
		{ID: "D-1", Time: at(-60), User: "ann", Host: "WS-1", Product: "ETABS", Reason: source.DenialNoSeat},
		{ID: "D-2", Time: at(-5), User: "bob", Host: "WS-2", Product: "SAFE", Reason: source.DenialOther},
		{ID: "D-1", Time: at(-60), User: "ann", Host: "WS-1", Product: "ETABS", Reason: source.DenialNoSeat},
	}}
	st := &upstream{name: "a", src: up, timeout: time.Second}
	rows, err := readDenials(context.Background(), st, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if !up.since.Equal(testNow.Add(-24 * time.Hour)) {
		t.Errorf("since %v, want 24 hours before the snapshot", up.since)
	}
	if len(rows) != 2 || rows[0].User != "bob" || rows[1].User != "ann" || rows[1].Host != "WS-1" || rows[0].Source != "a" {
		t.Errorf("rows (newest first, each id once): %+v", rows)
	}

	up.err = source.ErrNotSupported
	if _, err := readDenials(context.Background(), st, testNow); !errors.Is(err, errNoDenials) {
		t.Errorf("404: %v", err)
	}
	if _, err := readDenials(context.Background(), &upstream{name: "b", src: nil, timeout: time.Second}, testNow); !errors.Is(err, errNoDenials) {
		t.Errorf("a source without denials: %v", err)
	}
}

func TestPageShowsDenials(t *testing.T) {
	render := func(v *MonitorView) string {
		var b bytes.Buffer
		if err := pageTmpl.ExecuteTemplate(&b, "index.html", newPageView(v)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	v := &MonitorView{GeneratedAt: testNow, DenialsAvailable: true, Sources: []SourceView{{Name: "a", Type: "csi", DenialsAvailable: true}}, Denials: []DenialView{
		{Source: "a", Time: testNow, User: "<ann>", Host: "WS-1", Product: "ETABS", Edition: "Ultimate", Reason: "not_in_license_group"},
	}}
	page := render(v)
	if !strings.Contains(page, "&lt;ann&gt;") || !strings.Contains(page, "Not in license group") || !strings.Contains(page, "1 refused request,") {
		t.Errorf("page:\n%s", page)
	}
	if page := render(&MonitorView{GeneratedAt: testNow, Sources: []SourceView{{Name: "a", Type: "csi"}}}); !strings.Contains(page, "keeps no record") {
		t.Error("an account without denials is not said to be one")
	}
	if page := render(&MonitorView{GeneratedAt: testNow, DenialsError: "cannot read the denials: http_5xx"}); !strings.Contains(page, "http_5xx") {
		t.Error("the read failure is not shown")
	}
}
