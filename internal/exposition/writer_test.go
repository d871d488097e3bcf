package exposition

import (
	"bytes"
	"math"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
)

// FuzzWriterMatchesExpfmt: a family's header and a sample, written by
// appendHeader and Writer.Sample, are byte for byte what expfmt writes:
// the escaping of help and label values, and the formatting of values.
func FuzzWriterMatchesExpfmt(f *testing.F) {
	f.Add("Plain help.", "ann@acme.example", "WS-1", 1.0)
	f.Add("Back\\slash and\nnewline.", `q"uote\back`+"\nline", "", 0.0)
	f.Add("", "é", "\"", -1.0)
	f.Add("x", "", "", math.NaN())
	f.Add("x", "a", "b", math.Inf(-1))
	f.Add("x", "a", "b", 1764500000.5)
	f.Add("x", "a", "b", 1e-7)
	f.Add("x", "a", "b", math.Copysign(0, -1))
	f.Add("x", "a", "b", 12345678901234567890.0)
	f.Fuzz(func(t *testing.T, help, first, second string, value float64) {
		fam := Family{Name: "fuzz_metric", Help: help, Type: dto.MetricType_GAUGE}
		var got bytes.Buffer
		w := newWriter(&got)
		w.Write(appendHeader(nil, &fam))
		w.Sample(fam.Name, []Label{{"first", first}, {"second", second}}, value)
		w.flush()
		w.release()

		var want bytes.Buffer
		_, err := expfmt.MetricFamilyToText(&want, &dto.MetricFamily{
			Name: ptr(fam.Name),
			Help: &help,
			Type: dto.MetricType_GAUGE.Enum(),
			Metric: []*dto.Metric{{
				Label: []*dto.LabelPair{
					{Name: ptr("first"), Value: &first},
					{Name: ptr("second"), Value: &second},
				},
				Gauge: &dto.Gauge{Value: &value},
			}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.Bytes(), want.Bytes()) {
			t.Fatalf("Writer:\n%q\nexpfmt:\n%q", got.Bytes(), want.Bytes())
		}
	})
}

// TestWriterFlushesInBatches: the underlying writer sees large writes,
// not one per line, and every byte.
func TestWriterFlushesInBatches(t *testing.T) {
	var out countingWriter
	w := newWriter(&out)
	const lines = 5000
	for range lines {
		w.Sample("m", []Label{{"l", "v"}}, 2)
	}
	w.flush()
	w.release()
	if want := lines * len("m{l=\"v\"} 2\n"); out.n != want {
		t.Fatalf("%d bytes written, want %d", out.n, want)
	}
	if out.writes > out.n/flushAt+1 {
		t.Errorf("%d writes for %d bytes", out.writes, out.n)
	}
}

type countingWriter struct{ n, writes int }

func (c *countingWriter) Write(p []byte) (int, error) {
	c.n += len(p)
	c.writes++
	return len(p), nil
}

func ptr[T any](v T) *T { return &v }
