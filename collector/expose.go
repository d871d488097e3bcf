package collector

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// HandlerOpts configure Handler.
type HandlerOpts struct {
	// ErrorLog logs what the other collectors fail to gather; the rest is
	// still served. nil discards.
	ErrorLog *slog.Logger
	// MaxRequestsInFlight bounds concurrent scrapes; a scrape over it gets
	// 503. 0: no bound.
	MaxRequestsInFlight int
}

// textFormat is what the handler serves, whatever the scraper prefers:
// every Prometheus accepts it, and it is the format the domain series are
// rendered and compressed in.
var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// Handler serves the exposition of every source's latest view and poll
// health, and of the collectors in others, which must not hold c.
//
// It exists for size: promhttp would gather each domain series as a
// client_model message first, which at 580,000 series (the huge tier)
// takes seconds and hundreds of MiB a scrape. Here the domain series are
// rendered straight from the view's rows, and their gzip form is
// compressed once per poll and spliced into each gzip response. The output
// is what promhttp would write for the same series (TestHandlerMatchesPromhttp).
func (c *Collector) Handler(others prometheus.Gatherer, opts HandlerOpts) http.Handler {
	health := prometheus.NewRegistry()
	health.MustRegister(healthCollector{c})
	g := prometheus.Gatherers{health}
	if others != nil {
		g = append(g, others)
	}
	h := &handler{c: c, gather: g, log: opts.ErrorLog}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if opts.MaxRequestsInFlight > 0 {
		h.inflight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	return h
}

type handler struct {
	c        *Collector
	gather   prometheus.Gatherer
	log      *slog.Logger
	inflight chan struct{}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.inflight != nil {
		select {
		case h.inflight <- struct{}{}:
			defer func() { <-h.inflight }()
		default:
			http.Error(w, fmt.Sprintf("Limit of concurrent requests reached (%d), try again later.", cap(h.inflight)), http.StatusServiceUnavailable)
			return
		}
	}
	views := h.c.views()
	mfs, err := h.gather.Gather()
	if err != nil {
		h.log.Error("error gathering metrics; serving the rest", "err", err)
	}
	w.Header().Set("Content-Type", string(textFormat))
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		err = writeGzip(w, views, mfs)
	} else {
		err = writeText(w, views, mfs)
	}
	if err != nil {
		// The scraper went away or timed out; nothing to send it.
		h.log.Debug("writing the exposition failed", "err", err)
	}
}

// acceptsGzip reads an Accept-Encoding header.
func acceptsGzip(header string) bool {
	for part := range strings.SplitSeq(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.TrimSpace(name)
		if !strings.EqualFold(name, "gzip") && name != "*" {
			continue
		}
		q := 1.0
		if k, v, ok := strings.Cut(strings.TrimSpace(params), "="); ok && strings.TrimSpace(k) == "q" {
			if f, err := strconv.ParseFloat(strings.TrimSpace(v), 64); err == nil {
				q = f
			}
		}
		return q > 0
	}
	return false
}

// walk visits the exposition in name order: each domain family that has
// series in some view, and the gathered families in runs between them.
func walk(views []*view, mfs []*dto.MetricFamily, domain func(f int) error, others func([]*dto.MetricFamily) error) error {
	i := 0
	for f := 0; f <= numFamilies; f++ {
		j := i
		for j < len(mfs) && (f == numFamilies || mfs[j].GetName() < families[f].name) {
			j++
		}
		if j > i {
			if err := others(mfs[i:j]); err != nil {
				return err
			}
			i = j
		}
		if f == numFamilies {
			break
		}
		for _, v := range views {
			if v.count(f) > 0 {
				if err := domain(f); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// writeText writes the text exposition to w.
func writeText(w io.Writer, views []*view, mfs []*dto.MetricFamily) error {
	ew := newExpoWriter(w)
	defer ew.release()
	err := walk(views, mfs, func(f int) error {
		ew.buf = appendHeader(ew.buf, f)
		for _, v := range views {
			v.render(ew, f)
		}
		return ew.err
	}, func(run []*dto.MetricFamily) error {
		for _, mf := range run {
			if _, err := expfmt.MetricFamilyToText(ew, mf); err != nil {
				return err
			}
		}
		return ew.err
	})
	ew.flush()
	return cmpErr(err, ew.err)
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// flushAt is how much rendered text an expoWriter holds before writing.
const flushAt = 32 << 10

// expoWriter batches rendered lines into large writes.
type expoWriter struct {
	w   io.Writer
	buf []byte
	err error
}

// expoBufs keeps the batch buffers between scrapes: at 20 scrapes a
// second they were most of a scrape's garbage.
var expoBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, flushAt+4096)
	return &b
}}

func newExpoWriter(w io.Writer) *expoWriter {
	return &expoWriter{w: w, buf: (*expoBufs.Get().(*[]byte))[:0]}
}

// release returns the buffer; e is not used after.
func (e *expoWriter) release() {
	b := e.buf[:0]
	e.buf = nil
	expoBufs.Put(&b)
}

func (e *expoWriter) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	e.maybeFlush()
	return len(p), e.err
}

func (e *expoWriter) WriteString(s string) (int, error) {
	e.buf = append(e.buf, s...)
	e.maybeFlush()
	return len(s), e.err
}

func (e *expoWriter) WriteByte(c byte) error {
	e.buf = append(e.buf, c)
	e.maybeFlush()
	return e.err
}

func (e *expoWriter) maybeFlush() {
	if len(e.buf) >= flushAt {
		e.flush()
	}
}

func (e *expoWriter) flush() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

var _ interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
} = (*expoWriter)(nil)

// appendHeader appends the HELP and TYPE lines of family f.
func appendHeader(b []byte, f int) []byte {
	fam := &families[f]
	b = append(b, "# HELP "...)
	b = append(b, fam.name...)
	b = append(b, ' ')
	b = appendEscaped(b, fam.help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, fam.name...)
	return append(b, " gauge\n"...)
}

// render appends the lines of family f's series in v to ew.
func (v *view) render(ew *expoWriter, f int) {
	name := families[f].name
	if families[f].user {
		for i := range v.users {
			u := &v.users[i]
			b := append(ew.buf, name...)
			b = appendLabel(b, `{edition="`, u.edition)
			b = appendLabel(b, `",host="`, u.host)
			b = appendLabel(b, `",product="`, u.product)
			b = appendLabel(b, `",source="`, v.source)
			b = appendLabel(b, `",user="`, u.user)
			b = append(b, `"} `...)
			b = appendFloat(b, userValue(f, u))
			ew.buf = append(b, '\n')
			ew.maybeFlush()
		}
		return
	}
	for i := range v.licenses {
		l := &v.licenses[i]
		val, ok := licenseValue(f, l)
		if !ok {
			continue
		}
		b := append(ew.buf, name...)
		b = appendLabel(b, `{edition="`, l.Edition)
		b = appendLabel(b, `",license_id="`, l.ID)
		b = appendLabel(b, `",license_type="`, l.Type)
		b = appendLabel(b, `",product="`, l.Product)
		b = appendLabel(b, `",source="`, v.source)
		if f == famInfo {
			b = appendLabel(b, `",version="`, l.Version)
		}
		b = append(b, `"} `...)
		b = appendFloat(b, val)
		ew.buf = append(b, '\n')
		ew.maybeFlush()
	}
}

func appendLabel(b []byte, prefix, value string) []byte {
	return appendEscaped(append(b, prefix...), value, true)
}

// appendEscaped escapes as the text format does: backslash and newline,
// and in label values the double quote.
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !strings.ContainsAny(s, "\\\n\"") {
		return append(b, s...)
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

// appendFloat formats a value as expfmt does.
func appendFloat(b []byte, f float64) []byte {
	switch {
	case f == 1:
		return append(b, '1')
	case f == 0:
		return append(b, '0')
	case f == -1:
		return append(b, "-1"...)
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, +1):
		return append(b, "+Inf"...)
	case math.IsInf(f, -1):
		return append(b, "-Inf"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}
