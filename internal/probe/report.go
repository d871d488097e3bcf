package probe

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Exit codes of license_exporter --source.probe, as docs/probe.md lists them.
const (
	ExitOK            = 0 // read and understood everything
	ExitUsage         = 1 // bad flags or config (kingpin's convention), or the dump failed
	ExitFailed        = 2 // the read failed or the data was invalid
	ExitNotUnderstood = 3 // read, but with things the model does not have
)

// Report is what a probe found, for a person. Every string in it that
// came from upstream has been scrubbed of secrets and personal values.
type Report struct {
	Source, Type, Host string
	Took               time.Duration
	Documents          []Document
	Read               *Read // nil when the read failed
	Denials            string
	Endpoints          []EndpointFindings
	Failure            *Failure
	Users, Hosts       []string // only with --source.probe.show-users
	ShowUsers          bool
	// Unchecked says the source offers no raw documents, so what it sent
	// beyond what its decoder reads could not be looked at.
	Unchecked bool
	DumpDir   string
	DumpFiles int
}

// Document is one document read.
type Document struct {
	Name, Endpoint, ContentType string
	Status                      int
	Bytes                       int
}

// Read is what the poll read.
type Read struct {
	AccountID, AccountName string
	Products               []ProductLine
	Licenses               int
	Sessions               int
	UnknownLicenseSessions int
	Users, Hosts           int // distinct
}

// ProductLine is the licenses of one product and edition.
type ProductLine struct {
	Product, Edition         string
	Licenses                 int
	Seats, InUse, CheckedOut int64
}

// EndpointFindings are the findings over the documents of one endpoint
// (every page of sessions together).
type EndpointFindings struct {
	Endpoint  string
	Documents int
	Findings  []Finding
	Dropped   int // findings past the bound, not listed
}

// Failure is why the read failed.
type Failure struct {
	Reason  string // the reason label a poll would count
	Op      string // "GET sessions page 2"
	Error   string // the poll's error, as the exporter would log it
	Status  int
	Code    string // upstream's error code
	Message string // upstream's error message
	// For a body that is not JSON, or an error answer without upstream's
	// JSON error:
	ContentType string
	Stop        *SyntaxStop
	Excerpt     string // the first 200 bytes of the (scrubbed) body
}

// ExitCode is the probe's exit code for r.
func (r *Report) ExitCode() int {
	switch {
	case r.Failure != nil:
		return ExitFailed
	case r.notUnderstood() > 0:
		return ExitNotUnderstood
	}
	return ExitOK
}

func (r *Report) notUnderstood() int {
	n := 0
	for _, e := range r.Endpoints {
		n += len(e.Findings) + e.Dropped
	}
	return n
}

var exitMeaning = map[int]string{
	ExitOK:            "read and understood everything",
	ExitFailed:        "the read failed or the data was invalid; a poll would fail the same way",
	ExitNotUnderstood: "read, but upstream sent things the model does not have (the exporter ignores them)",
}

// WriteText writes the report for a person.
func (r *Report) WriteText(out io.Writer) error {
	w := &errWriter{w: out}
	code := r.ExitCode()
	w.printf("License Monitor probe of source %q (type %s, host %s)\n", r.Source, r.Type, r.Host)
	w.printf("Result: exit %d, %s\n", code, exitMeaning[code])

	w.printf("\nWhat was read (in %s)\n", r.Took.Round(time.Millisecond))
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	pages, bytes := map[string]int{}, map[string]int{}
	var order []string
	for _, d := range r.Documents {
		if pages[d.Endpoint] == 0 {
			order = append(order, d.Endpoint)
		}
		pages[d.Endpoint]++
		bytes[d.Endpoint] += d.Bytes
	}
	var docs []string
	for _, ep := range order {
		docs = append(docs, fmt.Sprintf("%s %d (%s)", ep, pages[ep], size(bytes[ep])))
	}
	if len(docs) == 0 {
		docs = append(docs, "none")
	}
	fmt.Fprintf(tw, "  documents\t%s\n", strings.Join(docs, ", "))
	if rd := r.Read; rd != nil {
		if rd.AccountID != "" || rd.AccountName != "" { // FlexLM has no account
			fmt.Fprintf(tw, "  account\t%s %q\n", rd.AccountID, rd.AccountName)
		}
		fmt.Fprintf(tw, "  licenses\t%d, in %d product editions\n", rd.Licenses, len(rd.Products))
		users := "names not shown (--source.probe.show-users shows them)"
		if r.ShowUsers {
			users = "listed below"
		}
		fmt.Fprintf(tw, "  sessions\t%d: %d distinct users on %d distinct hosts; %s\n", rd.Sessions, rd.Users, rd.Hosts, users)
		if rd.UnknownLicenseSessions > 0 {
			fmt.Fprintf(tw, "  \t%d of them name a license that /licenses does not list (product \"unknown\")\n", rd.UnknownLicenseSessions)
		}
	}
	fmt.Fprintf(tw, "  denials\t%s\n", r.Denials)
	w.err = orErr(w.err, tw.Flush())
	if rd := r.Read; rd != nil && len(rd.Products) > 0 {
		w.printf("\n")
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  product\tedition\tlicenses\tseats\tin use\tchecked out\n")
		for _, p := range rd.Products {
			ed := p.Edition
			if ed == "" {
				ed = "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%d\n", p.Product, ed, p.Licenses, p.Seats, p.InUse, p.CheckedOut)
		}
		w.err = orErr(w.err, tw.Flush())
	}
	if r.ShowUsers && r.Read != nil {
		w.printf("\n  users: %s\n  hosts: %s\n", strings.Join(r.Users, ", "), strings.Join(r.Hosts, ", "))
	}

	w.printf("\nWhat was not understood\n")
	if r.Unchecked {
		w.printf("  not checked: this source does not offer its raw documents; only what its decoder reads was seen\n")
	} else if r.notUnderstood() == 0 && r.Failure != nil {
		w.printf("  no field findings in the documents read; the failure is below\n")
	} else if r.notUnderstood() == 0 {
		w.printf("  nothing: every field read is in the model, and no required field lacks or has the wrong type\n")
	}
	for _, e := range r.Endpoints {
		if len(e.Findings)+e.Dropped == 0 {
			continue
		}
		w.printf("  %s (%d %s):\n", e.Endpoint, e.Documents, plural(e.Documents, "document", "documents"))
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		for _, f := range e.Findings {
			n := strconv.Itoa(f.Count)
			if f.Of > 0 {
				n += " of " + strconv.Itoa(f.Of)
			}
			what := string(f.Kind)
			if f.Kind == FindingWrongType {
				what = fmt.Sprintf("wrong type (%s where the model has %s)", strings.Join(f.Got, ", "), f.Expected)
			}
			fmt.Fprintf(tw, "    %s\t%s\t%s\n", f.Path, what, n)
		}
		w.err = orErr(w.err, tw.Flush())
		if e.Dropped > 0 {
			w.printf("    and %d more, not listed\n", e.Dropped)
		}
	}

	if f := r.Failure; f != nil {
		w.printf("\nWhy the read failed\n")
		tw = tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
		fmt.Fprintf(tw, "  reason\t%s (a poll counts it in license_poll_failures_total{reason=%q})\n", f.Reason, f.Reason)
		fmt.Fprintf(tw, "  while\t%s\n", f.Op)
		fmt.Fprintf(tw, "  error\t%s\n", f.Error)
		if f.Status != 0 {
			fmt.Fprintf(tw, "  HTTP status\t%d\n", f.Status)
		}
		if f.Code != "" || f.Message != "" {
			fmt.Fprintf(tw, "  upstream says\tcode %q, message %q\n", f.Code, f.Message)
		}
		if f.Stop != nil {
			fmt.Fprintf(tw, "  not JSON\tat byte %d, at %s: %s\n", f.Stop.Offset, f.Stop.Path, f.Stop.Why)
		}
		if f.Excerpt != "" {
			fmt.Fprintf(tw, "  Content-Type\t%q\n", f.ContentType)
			fmt.Fprintf(tw, "  body starts\t%s\n", f.Excerpt)
		}
		w.err = orErr(w.err, tw.Flush())
	}
	if r.DumpDir != "" {
		w.printf("\nWrote %d %s and this report to %s (secrets removed", r.DumpFiles, plural(r.DumpFiles, "document", "documents"), r.DumpDir)
		if !r.ShowUsers {
			w.printf(", user names and hosts pseudonymised")
		}
		w.printf(")\n")
	}
	return w.err
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func size(n int) string {
	switch {
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}

func (e *errWriter) printf(format string, args ...any) { fmt.Fprintf(e, format, args...) }

func orErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
