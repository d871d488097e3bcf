package exposition

import (
	"io"
	"math"
	"strconv"
	"strings"
	"sync"
)

// flushAt is how much rendered text a Writer holds before writing.
const flushAt = 32 << 10

// Writer batches exposition text into large writes. A Renderer writes a
// family's sample lines to it, usually with Sample.
type Writer struct {
	w   io.Writer
	buf []byte
	err error
}

// Label is one label of a sample.
type Label struct{ Name, Value string }

// writerBufs keeps the batch buffers between scrapes: at 20 scrapes a
// second they were most of a scrape's garbage.
var writerBufs = sync.Pool{New: func() any {
	b := make([]byte, 0, flushAt+4096)
	return &b
}}

func newWriter(w io.Writer) *Writer {
	return &Writer{w: w, buf: (*writerBufs.Get().(*[]byte))[:0]}
}

// release returns the buffer; e is not used after.
func (e *Writer) release() {
	b := e.buf[:0]
	e.buf = nil
	writerBufs.Put(&b)
}

// Sample writes one sample line in the text format. labels must be in
// name order, as the text format sorts them, and names must be valid
// legacy names: they are written as they are.
func (e *Writer) Sample(name string, labels []Label, value float64) {
	b := append(e.buf, name...)
	for i, l := range labels {
		if i == 0 {
			b = append(b, '{')
		} else {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, `="`...)
		b = appendEscaped(b, l.Value, true)
		b = append(b, '"')
	}
	if len(labels) > 0 {
		b = append(b, '}')
	}
	b = append(b, ' ')
	b = appendFloat(b, value)
	e.buf = append(b, '\n')
	e.maybeFlush()
}

func (e *Writer) Write(p []byte) (int, error) {
	e.buf = append(e.buf, p...)
	e.maybeFlush()
	return len(p), e.err
}

func (e *Writer) WriteString(s string) (int, error) {
	e.buf = append(e.buf, s...)
	e.maybeFlush()
	return len(s), e.err
}

func (e *Writer) WriteByte(c byte) error {
	e.buf = append(e.buf, c)
	e.maybeFlush()
	return e.err
}

func (e *Writer) maybeFlush() {
	if len(e.buf) >= flushAt {
		e.flush()
	}
}

func (e *Writer) flush() {
	if e.err == nil && len(e.buf) > 0 {
		_, e.err = e.w.Write(e.buf)
	}
	e.buf = e.buf[:0]
}

// expfmt.MetricFamilyToText writes to these directly; without them it
// would wrap the Writer in a bufio.Writer of its own.
var _ interface {
	io.Writer
	io.StringWriter
	io.ByteWriter
} = (*Writer)(nil)

// appendHeader appends a family's HELP and TYPE lines.
func appendHeader(b []byte, f *Family) []byte {
	b = append(b, "# HELP "...)
	b = append(b, f.Name...)
	b = append(b, ' ')
	b = appendEscaped(b, f.Help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, f.Name...)
	b = append(b, ' ')
	b = append(b, strings.ToLower(f.Type.String())...)
	return append(b, '\n')
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
