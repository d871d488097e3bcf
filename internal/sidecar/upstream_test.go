package sidecar

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/license-monitor/license-monitor/source"
	"github.com/license-monitor/license-monitor/source/csi"
)

// The real client is one Upstream; fakeSource below is another.
var _ Upstream = (*csi.Client)(nil)

// fakeSource numbers its snapshots; the first read waits for release.
type fakeSource struct {
	release chan struct{}
	mu      sync.Mutex
	calls   int
}

func (f *fakeSource) Licenses(ctx context.Context) (*source.Snapshot, error) {
	f.mu.Lock()
	f.calls++
	n := f.calls
	f.mu.Unlock()
	if n == 1 {
		select {
		case <-f.release:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return &source.Snapshot{AccountName: strconv.Itoa(n)}, nil
}

func (f *fakeSource) EachSession(context.Context, func(*source.Session)) error { return nil }
func (f *fakeSource) Host() string                                             { return "fake" }
func (f *fakeSource) Terminable(*source.Session, string) (bool, string)        { return true, "" }
func (f *fakeSource) Terminate(context.Context, string) error                  { return errors.New("not used") }

func (f *fakeSource) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func TestViewReaderSharesOneRead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSource{release: make(chan struct{})}
		r := &viewReader{src: f, timeout: time.Minute}
		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() {
				if snap, err := r.read(t.Context()); err != nil || snap.AccountName != "1" {
					t.Errorf("read: %v, %+v", err, snap)
				}
			})
		}
		synctest.Wait()
		if n := f.count(); n != 1 {
			t.Errorf("3 concurrent views made %d upstream reads, want 1", n)
		}
		close(f.release)
		wg.Wait()
		// Nothing is kept once a read ends: the next view reads again.
		if snap, err := r.read(t.Context()); err != nil || snap.AccountName != "2" {
			t.Errorf("a later view got %v, %+v; want a new read", err, snap)
		}
	})
}

func TestViewReaderInvalidate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSource{release: make(chan struct{})}
		r := &viewReader{src: f, timeout: time.Minute}
		done := make(chan struct{})
		go func() {
			defer close(done)
			_, _ = r.read(t.Context())
		}()
		synctest.Wait()
		// After a terminate, a view must not join the read begun before it.
		r.invalidate()
		if snap, err := r.read(t.Context()); err != nil || snap.AccountName != "2" {
			t.Errorf("after invalidate: %v, %+v; want a new read", err, snap)
		}
		close(f.release)
		<-done
	})
}

func TestViewReaderTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeSource{release: make(chan struct{})}
		r := &viewReader{src: f, timeout: 5 * time.Second}
		start := time.Now()
		if _, err := r.read(t.Context()); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != 5*time.Second {
			t.Errorf("a stuck read ended with %v after %s; want the 5s timeout", err, time.Since(start))
		}
	})
}

func TestUpstreamResult(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{&source.Error{Reason: source.ReasonTimeout, Op: "GET licenses", Detail: "the poll's timeout passed"}, "timeout"},
		{&source.Error{Reason: source.ReasonHTTP5xx, Status: 503}, "http_5xx (HTTP 503)"},
		{&source.Error{Reason: source.ReasonHTTP4xx, Status: 409, Code: source.CodeCheckedOut}, "http_4xx (HTTP 409) code=" + source.CodeCheckedOut},
		{errors.New("dial tcp http://secret-link/?key=x: refused"), "error"},
	} {
		if got := upstreamResult(c.err); got != c.want {
			t.Errorf("upstreamResult(%v) = %q, want %q", c.err, got, c.want)
		}
	}
}
