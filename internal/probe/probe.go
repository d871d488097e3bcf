// Package probe is license_exporter --source.probe: it reads one source
// once, as a poll would, and reports for a person what it read and what it
// did not understand: fields the model lacks, required fields missing,
// values of the wrong type, and why a read failed. It can dump the raw
// documents, with secrets removed and people pseudonymised, for a bug
// report. docs/probe.md describes the report and the exit codes.
package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/license-monitor/license-monitor/internal/config"
	"github.com/license-monitor/license-monitor/source"
)

// Options configure one probe.
type Options struct {
	ConfigFile string
	Source     string // the source's name in the config
	DumpDir    string // "" for no dump
	ShowUsers  bool
	UserAgent  string
	Out, Err   io.Writer
	Now        func() time.Time // nil: time.Now
}

// excerptLen is how much of a body that is not JSON the report shows.
const excerptLen = 200

// Run probes the source, writes the report to o.Out and returns the exit
// code: ExitOK, ExitUsage, ExitFailed or ExitNotUnderstood.
func Run(ctx context.Context, o Options) int {
	if o.Now == nil {
		o.Now = time.Now
	}
	cfg, err := config.LoadExporterFile(o.ConfigFile)
	if err != nil {
		fmt.Fprintln(o.Err, "config is invalid:", err)
		return ExitUsage
	}
	var sc *config.Source
	var names []string
	for i := range cfg.Sources {
		names = append(names, cfg.Sources[i].Name)
		if cfg.Sources[i].Name == o.Source {
			sc = &cfg.Sources[i]
		}
	}
	if sc == nil {
		fmt.Fprintf(o.Err, "--source.probe: no source named %q in %s (its sources: %s)\n", o.Source, o.ConfigFile, strings.Join(names, ", "))
		return ExitUsage
	}
	if o.DumpDir != "" {
		if err := prepareDump(o.DumpDir); err != nil {
			fmt.Fprintln(o.Err, "--source.probe.dump:", err)
			return ExitUsage
		}
	}
	src, err := sc.Open(o.UserAgent)
	if err != nil {
		fmt.Fprintln(o.Err, "cannot open the source:", err)
		return ExitUsage
	}
	var secrets []string
	if h, ok := sc.Spec.(source.SecretHolder); ok {
		secrets = h.Secrets()
	}
	p := &prober{scrub: newScrubber(secrets, o.ShowUsers), now: o.Now}
	rep := p.probe(ctx, sc, src)
	if c, ok := src.(io.Closer); ok {
		_ = c.Close() // FlexLM's denials_log
	}
	if o.DumpDir != "" {
		rep.DumpDir = o.DumpDir
		n, err := p.dump(o.DumpDir)
		rep.DumpFiles = n
		if err != nil {
			fmt.Fprintln(o.Err, "--source.probe.dump:", err)
			return ExitUsage
		}
	}
	var text bytes.Buffer
	_ = rep.WriteText(&text)
	// A last pass: nothing printed may hold a secret, whatever its way in.
	out := []byte(p.scrub.secretsOnly(text.String()))
	if _, err := o.Out.Write(out); err != nil {
		fmt.Fprintln(o.Err, "cannot write the report:", err)
		return ExitUsage
	}
	if o.DumpDir != "" {
		if err := writeNew(filepath.Join(o.DumpDir, "report.txt"), out); err != nil {
			fmt.Fprintln(o.Err, "--source.probe.dump:", err)
			return ExitUsage
		}
	}
	return rep.ExitCode()
}

// prober holds one probe's documents and scrubber.
type prober struct {
	scrub *scrubber
	now   func() time.Time
	docs  []rawDoc
}

// rawDoc is a copy of a source.RawDoc, kept past visit.
type rawDoc struct {
	source.RawDoc
	stop    *SyntaxStop
	skipped []int // lines a line-based source's parser skipped
}

func (p *prober) probe(ctx context.Context, sc *config.Source, src source.Source) *Report {
	rep := &Report{Source: sc.Name, Type: sc.Type, Host: src.Host(), ShowUsers: p.scrub.showUsers}
	// The poll's own timeout, and nothing else inside it: documents are
	// only copied during the read and analysed after it.
	rctx, cancel := context.WithTimeout(ctx, time.Duration(sc.Timeout))
	start := p.now()
	var snap *source.Snapshot
	var err error
	if rr, ok := src.(source.RawReader); ok {
		snap, err = rr.ReadRaw(rctx, func(d *source.RawDoc) error {
			c := rawDoc{RawDoc: *d}
			c.Body = slices.Clone(d.Body)
			p.docs = append(p.docs, c)
			return nil
		})
	} else {
		snap, err = source.ReadAll(rctx, src)
	}
	rep.Took = p.now().Sub(start)
	cancel()

	rep.Denials = p.denials(ctx, sc, src)
	rep.Endpoints = p.analyse()
	if ls, ok := src.(lineSkipper); ok && len(p.docs) > 0 {
		// One text document a read (lmstat's output): its skipped lines.
		d := &p.docs[len(p.docs)-1]
		var total int
		d.skipped, total = ls.SkippedLines()
		if len(d.skipped) > 0 || total > 0 {
			rep.Endpoints = append(rep.Endpoints, p.skippedFindings(d, total))
		}
	}
	p.registerPeople(src)
	if snap != nil {
		rep.Read = p.summarise(snap, rep)
	}
	if err != nil {
		rep.Failure = p.failure(err)
	}
	for _, d := range p.docs {
		rep.Documents = append(rep.Documents, Document{
			Name: d.Name, Endpoint: d.Endpoint, Status: d.Status,
			ContentType: p.scrub.Text(d.ContentType), Bytes: len(d.Body),
		})
	}
	_, raw := src.(source.RawReader)
	rep.Unchecked = !raw
	return rep
}

// analyse compares every document with its wire type, endpoint by
// endpoint, and records the people named in them for the scrubber.
func (p *prober) analyse() []EndpointFindings {
	byEndpoint := map[string]*Analysis{}
	var order []string
	for i := range p.docs {
		d := &p.docs[i]
		if d.Wire == nil {
			continue
		}
		a := byEndpoint[d.Endpoint]
		if a == nil {
			a = newAnalysis(p.scrub.personal)
			byEndpoint[d.Endpoint] = a
			order = append(order, d.Endpoint)
		}
		d.stop = a.Add(d.Body, d.Wire)
	}
	var out []EndpointFindings
	for _, ep := range order {
		a := byEndpoint[ep]
		fs := a.Findings()
		for i := range fs {
			fs[i].Path = p.scrub.Text(fs[i].Path)
		}
		out = append(out, EndpointFindings{Endpoint: ep, Documents: a.Documents, Findings: fs, Dropped: a.Dropped})
	}
	return out
}

func (p *prober) summarise(snap *source.Snapshot, rep *Report) *Read {
	users, hosts := map[string]bool{}, map[string]bool{}
	for i := range snap.Sessions {
		s := &snap.Sessions[i]
		p.scrub.personal("user", s.User)
		p.scrub.personal("host", s.Host)
		p.scrub.personal("name", s.DisplayName)
		users[s.User] = true
		if s.Host != "" {
			hosts[s.Host] = true
		}
	}
	rd := &Read{
		AccountID: p.scrub.Text(snap.AccountID), AccountName: p.scrub.Text(snap.AccountName),
		Licenses: len(snap.Licenses), Sessions: len(snap.Sessions),
		UnknownLicenseSessions: snap.UnknownLicenseSessions, Users: len(users), Hosts: len(hosts),
	}
	type key struct{ product, edition string }
	lines := map[key]*ProductLine{}
	for _, l := range snap.Licenses {
		k := key{l.Product, l.Edition}
		pl := lines[k]
		if pl == nil {
			pl = &ProductLine{Product: p.scrub.Text(l.Product), Edition: p.scrub.Text(l.Edition)}
			lines[k] = pl
		}
		pl.Licenses++
		pl.Seats += l.Seats
		pl.InUse += l.InUse
		pl.CheckedOut += l.CheckedOut
	}
	for _, pl := range lines {
		rd.Products = append(rd.Products, *pl)
	}
	sort.Slice(rd.Products, func(i, j int) bool {
		a, b := rd.Products[i], rd.Products[j]
		if a.Product != b.Product {
			return a.Product < b.Product
		}
		return a.Edition < b.Edition
	})
	if p.scrub.showUsers {
		rep.Users = sortedKeys(users)
		rep.Hosts = sortedKeys(hosts)
	}
	return rd
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// denials reads the source's denials when it has them, within a timeout
// of their own.
func (p *prober) denials(ctx context.Context, sc *config.Source, src source.Source) string {
	d, ok := src.(source.Denials)
	if !ok {
		return "not offered by this source"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(sc.Timeout))
	defer cancel()
	n := 0
	err := d.EachDenial(ctx, time.Time{}, func(*source.Denial) { n++ })
	if errors.Is(err, source.ErrNotSupported) {
		return "not offered by this account"
	}
	if err != nil {
		return "could not be read: " + p.scrub.Text(err.Error())
	}
	return strconv.Itoa(n) + " read"
}

func (p *prober) failure(err error) *Failure {
	f := &Failure{Reason: string(source.ReasonConnection), Error: p.scrub.Text(err.Error())}
	var e *source.Error
	if !errors.As(err, &e) {
		return f
	}
	if e.Reason != "" {
		f.Reason = string(e.Reason)
	}
	f.Op, f.Status, f.Code = e.Op, e.Status, p.scrub.Text(e.Code)
	if e.Status >= 400 {
		f.Message = p.scrub.Text(e.Detail)
	}
	// The body is shown when it is why the read failed: not JSON, or an
	// error answer without upstream's JSON error (a proxy's HTML page).
	bodyMatters := e.Reason == source.ReasonDecode || e.Status >= 400 && f.Code == "" && f.Message == ""
	if !bodyMatters {
		return f
	}
	for i := range p.docs {
		d := &p.docs[i]
		if d.Name != e.Op || (d.stop == nil && e.Reason == source.ReasonDecode) {
			continue
		}
		f.ContentType = p.scrub.Text(d.ContentType)
		if d.stop != nil {
			st := *d.stop
			st.Path = p.scrub.Text(st.Path)
			st.Why = p.scrub.Text(st.Why)
			f.Stop = &st
		}
		// Scrubbed whole, then cut: a name is never half printed.
		body := p.scrub.Body(d.Body)
		if len(body) > excerptLen {
			f.Excerpt = strconv.Quote(string(body[:excerptLen])) + " …"
		} else {
			f.Excerpt = strconv.Quote(string(body))
		}
	}
	return f
}

// prepareDump makes dir, or checks that it is an empty directory: a dump
// never overwrites or mixes with another.
func prepareDump(dir string) error {
	entries, err := os.ReadDir(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return os.MkdirAll(dir, 0o700)
	case err != nil:
		return err
	case len(entries) > 0:
		return fmt.Errorf("%s is not empty; name a new or empty directory", dir)
	}
	return nil
}

// dump writes every document read, scrubbed, as 001-licenses.json,
// 002-sessions.json... It runs after the analysis, so every person in
// any document is known before the first file is written.
func (p *prober) dump(dir string) (int, error) {
	for i, d := range p.docs {
		ext := "txt"
		if strings.Contains(strings.ToLower(d.ContentType), "json") {
			ext = "json"
		}
		name := fmt.Sprintf("%03d-%s.%s", i+1, safeName(d.Endpoint), ext)
		body := d.Body
		if d.Wire == nil && d.Status == 0 && !p.scrub.showUsers {
			body = p.lineBody(&d) // a text document of a line-based source
		}
		if err := writeNew(filepath.Join(dir, name), p.scrub.Body(body)); err != nil {
			return i, err
		}
	}
	return len(p.docs), nil
}

// safeName keeps an endpoint's name usable as part of a file name.
func safeName(s string) string {
	s = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
	if s == "" {
		return "document"
	}
	return s
}

// writeNew creates name with mode 0600; it refuses a file (or a link)
// that is already there.
func writeNew(name string, b []byte) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}
