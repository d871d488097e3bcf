package exposition

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// bigRenderer writes n samples of one family: far more text than the
// kernel's socket buffers take, so a writer blocks on a scraper that does
// not read.
type bigRenderer struct{ n int }

func (b bigRenderer) Count(f int) int {
	if f == 1 {
		return b.n
	}
	return 0
}

func (b bigRenderer) Render(w *Writer, f int) {
	pad := strings.Repeat("x", 200)
	for i := range b.n {
		w.Sample(testFamilies[f].Name, []Label{{Name: "i", Value: fmt.Sprint(i, pad)}}, float64(i))
	}
}

// TestStalledScraperFreesItsSlot: a scraper that sends a request and never
// reads holds the only in-flight slot (others get 503) only until its
// write stalls for StallTimeout; then a scrape succeeds again. Without the
// deadline the slot is held for as long as the connection stays open.
//
// The stuck request is held inside the handler until the 503 has been
// seen, so the check does not race the stall timer on a loaded machine.
func TestStalledScraperFreesItsSlot(t *testing.T) {
	r := bigRenderer{n: 150_000} // about 35 MB of text
	started, release := make(chan struct{}), make(chan struct{})
	var first sync.Once
	renderers := func() []Renderer {
		first.Do(func() { close(started); <-release })
		return []Renderer{r}
	}
	h := NewHandler(testFamilies, renderers, nil,
		HandlerOpts{MaxRequestsInFlight: 1, StallTimeout: 300 * time.Millisecond, WriteTimeout: time.Minute})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()

	stuck, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	if _, err := io.WriteString(stuck, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}

	client := &http.Client{Timeout: time.Minute}
	status := func() int {
		resp, err := client.Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		_, _ = io.Copy(io.Discard, resp.Body)
		return resp.StatusCode
	}
	// First the stuck scraper holds the slot...
	<-started
	if got := status(); got != http.StatusServiceUnavailable {
		t.Fatalf("while the stuck scrape holds the only slot: status %d, want 503", got)
	}
	close(release)
	// ...then its deadline frees it.
	waitFor(t, time.Minute, func() bool { return status() == http.StatusOK })
}

// TestSlowReaderIsNotCutOff: a scraper that reads slowly but steadily, each
// chunk within StallTimeout, gets the whole exposition.
func TestSlowReaderIsNotCutOff(t *testing.T) {
	r := bigRenderer{n: 40_000} // about 9 MB
	h := NewHandler(testFamilies, func() []Renderer { return []Renderer{r} }, nil,
		HandlerOpts{StallTimeout: 2 * time.Second, WriteTimeout: time.Minute})
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 256<<10)
	n := 0
	for {
		m, err := resp.Body.Read(buf)
		n += m
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d bytes: %v", n, err)
		}
		time.Sleep(time.Millisecond) // slower than the writer, never stalled
	}
	if n < 8<<20 {
		t.Errorf("read %d bytes", n)
	}
}

func waitFor(t *testing.T, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
