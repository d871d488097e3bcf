package exposition

import (
	"bytes"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Family is a metric family whose samples a Renderer writes.
type Family struct {
	// Name is a legacy metric name ([a-zA-Z_:][a-zA-Z0-9_:]*), which the
	// text format writes unquoted.
	Name, Help string
	// Type is gauge, counter or untyped: Writer.Sample writes one line a
	// sample.
	Type dto.MetricType
}

// Renderer is one generation of the owner's data, e.g. one poll's
// aggregation of a snapshot. It must not change once served: the handler
// caches its compressed samples under the Renderer itself, compared with
// ==, so it should be a pointer and new data a new Renderer.
type Renderer interface {
	// Count is the number of samples of family f, an index into the
	// handler's families; 0 leaves f out of this Renderer's output.
	Count(f int) int
	// Render writes the sample lines of family f, in the order the text
	// format sorts them.
	Render(w *Writer, f int)
}

// HandlerOpts configure NewHandler.
type HandlerOpts struct {
	// ErrorLog logs what others fail to gather; the rest is still
	// served. nil discards.
	ErrorLog *slog.Logger
	// MaxRequestsInFlight bounds concurrent scrapes; a scrape over it gets
	// 503. 0: no bound.
	MaxRequestsInFlight int
	// StallTimeout bounds how long one chunk (64 KiB) of a response may
	// wait for the scraper to read it: a scraper that never reads loses
	// its connection, and its in-flight slot, after StallTimeout rather
	// than holding it for as long as it keeps the connection open. 0: no
	// bound but the server's WriteTimeout.
	StallTimeout time.Duration
	// WriteTimeout bounds a whole response, from the start of the scrape,
	// when StallTimeout is set (its deadlines replace the server's
	// WriteTimeout, so this takes its place). 0: none.
	WriteTimeout time.Duration
}

// textFormat is what the handler serves, whatever the scraper prefers:
// every Prometheus accepts it, and it is the format the Renderers' samples
// are rendered and compressed in.
var textFormat = expfmt.NewFormat(expfmt.TypeTextPlain)

// NewHandler serves families, as rendered by each of renderers() on each
// scrape, and the families gathered from others (nil: none), merged in
// name order. The output is what promhttp would write for the same
// series. families must be sorted by name; others must not gather them.
func NewHandler(families []Family, renderers func() []Renderer, others prometheus.Gatherer, opts HandlerOpts) http.Handler {
	if !slices.IsSortedFunc(families, func(a, b Family) int { return strings.Compare(a.Name, b.Name) }) {
		panic("exposition: families are not sorted by name")
	}
	for _, f := range families {
		if !model.LegacyValidation.IsValidMetricName(f.Name) {
			panic("exposition: not a legacy metric name: " + f.Name)
		}
	}
	h := &handler{
		families:  slices.Clone(families),
		renderers: renderers,
		gather:    others,
		log:       opts.ErrorLog,
		headers:   make([][]byte, len(families)),
	}
	if h.gather == nil {
		h.gather = prometheus.Gatherers{}
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.stall, h.total = opts.StallTimeout, opts.WriteTimeout
	if opts.MaxRequestsInFlight > 0 {
		h.inflight = make(chan struct{}, opts.MaxRequestsInFlight)
	}
	for f := range h.families {
		h.headers[f] = appendHeader(nil, &h.families[f])
	}
	h.gzHeaders = sync.OnceValue(func() []segment {
		segs := make([]segment, len(h.headers))
		for f, text := range h.headers {
			segs[f] = compress(0, func(w *Writer) { w.Write(text) })
		}
		return segs
	})
	return h
}

type handler struct {
	families  []Family
	renderers func() []Renderer
	gather    prometheus.Gatherer
	log       *slog.Logger
	inflight  chan struct{}
	stall     time.Duration
	total     time.Duration
	headers   [][]byte         // the HELP and TYPE lines of each family
	gzHeaders func() []segment // the same, compressed
	cache     cache            // the Renderers' compressed samples
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
	var out io.Writer = w
	if h.stall > 0 {
		d := &deadlineWriter{w: w, rc: http.NewResponseController(w), stall: h.stall, now: time.Now}
		if h.total > 0 {
			d.end = d.now().Add(h.total)
		}
		out = d
	}
	rs := h.renderers()
	// Every scrape looks the Renderers up, so that the cache lets go of
	// replaced ones even while no scraper asks for gzip.
	compressed := h.cache.lookup(rs)
	mfs, err := h.gather.Gather()
	if err != nil {
		h.log.Error("error gathering metrics; serving the rest", "err", err)
	}
	w.Header().Set("Content-Type", string(textFormat))
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		w.Header().Set("Content-Encoding", "gzip")
		err = h.writeGzip(out, rs, compressed, mfs)
	} else {
		err = h.writeText(out, rs, mfs)
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

// walk visits the exposition in name order: each family that has samples
// in some Renderer, and the gathered families in runs between them.
func (h *handler) walk(rs []Renderer, mfs []*dto.MetricFamily, rendered func(f int) error, gathered func([]*dto.MetricFamily) error) error {
	i := 0
	for f := 0; f <= len(h.families); f++ {
		j := i
		for j < len(mfs) && (f == len(h.families) || mfs[j].GetName() < h.families[f].Name) {
			j++
		}
		if j > i {
			if err := gathered(mfs[i:j]); err != nil {
				return err
			}
			i = j
		}
		if f == len(h.families) {
			break
		}
		for _, r := range rs {
			if r.Count(f) > 0 {
				if err := rendered(f); err != nil {
					return err
				}
				break
			}
		}
	}
	return nil
}

// writeText writes the text exposition to w.
func (h *handler) writeText(w io.Writer, rs []Renderer, mfs []*dto.MetricFamily) error {
	tw := newWriter(w)
	defer tw.release()
	err := h.walk(rs, mfs, func(f int) error {
		tw.Write(h.headers[f])
		for _, r := range rs {
			if r.Count(f) > 0 {
				r.Render(tw, f)
			}
		}
		return tw.err
	}, func(run []*dto.MetricFamily) error {
		return writeGathered(tw, run)
	})
	tw.flush()
	return cmpErr(err, tw.err)
}

// writeGathered writes gathered families as promhttp does.
func writeGathered(w *Writer, run []*dto.MetricFamily) error {
	for _, mf := range run {
		if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
			return err
		}
	}
	return w.err
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// writeGzip writes the exposition to w as one gzip member: the cached
// segments of rs (compressed[i] is rs[i]'s), and the gathered families
// compressed now.
func (h *handler) writeGzip(w io.Writer, rs []Renderer, compressed []*compressedRenderer, mfs []*dto.MetricFamily) error {
	var live []*bytes.Buffer
	defer func() { releaseLive(live) }()
	segs, err := h.gzipSegments(rs, compressed, mfs, &live)
	if err != nil {
		return err
	}
	return writeSpliced(w, segs)
}

// releaseLive returns the buffers of a scrape's own segments to liveBufs.
func releaseLive(live []*bytes.Buffer) {
	for _, b := range live {
		b.Reset()
		liveBufs.Put(b)
	}
}

// gzipSegments returns the segments of the exposition in order. Those
// compressed for this scrape are in buffers appended to live, which the
// caller releases once the segments are written.
func (h *handler) gzipSegments(rs []Renderer, compressed []*compressedRenderer, mfs []*dto.MetricFamily, live *[]*bytes.Buffer) (segs []*segment, err error) {
	headers := h.gzHeaders()
	err = h.walk(rs, mfs, func(f int) error {
		segs = append(segs, &headers[f])
		for i, r := range rs {
			if s := &compressed[i].segments(r, len(h.families))[f]; s.size > 0 {
				segs = append(segs, s)
			}
		}
		return nil
	}, func(run []*dto.MetricFamily) error {
		var err error
		buf := liveBufs.Get().(*bytes.Buffer)
		*live = append(*live, buf)
		s := compressInto(buf, func(w *Writer) { err = writeGathered(w, run) })
		segs = append(segs, &s)
		return err
	})
	return segs, err
}
