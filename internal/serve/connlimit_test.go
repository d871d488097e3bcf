package serve

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func dialFrom(t *testing.T, local, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 5 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// served reports whether c gets an answer to a request.
func served(c net.Conn) bool {
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		return false
	}
	b := make([]byte, 12)
	_, err := io.ReadFull(c, b)
	return err == nil && string(b) == "HTTP/1.1 200"
}

// TestConnLimitPerClient: past the cap a client's new connections are
// closed, another client is not affected, and a closed connection frees
// its place.
func TestConnLimitPerClient(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	var states atomic.Int64
	srv.Config.ConnState = func(net.Conn, http.ConnState) { states.Add(1) }
	lim := LimitConnsPerClient(srv.Config, "test", 2)
	srv.Start()
	defer srv.Close()
	addr := srv.Listener.Addr().String()

	a1, a2 := dialFrom(t, "127.0.0.1", addr), dialFrom(t, "127.0.0.1", addr)
	if !served(a1) || !served(a2) {
		t.Fatal("connections within the cap are not served")
	}
	if served(dialFrom(t, "127.0.0.1", addr)) {
		t.Error("a third connection of the same client was served")
	}
	if !served(dialFrom(t, "127.0.0.2", addr)) {
		t.Error("another client was refused")
	}
	if got := testutil.ToFloat64(lim.refused); got != 1 {
		t.Errorf("refused counter %g, want 1", got)
	}
	a1.Close()
	// The server sees the close asynchronously: wait for the place.
	deadline := time.Now().Add(time.Minute)
	for !served(dialFrom(t, "127.0.0.1", addr)) {
		if time.Now().After(deadline) {
			t.Fatal("a closed connection did not free its place")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if states.Load() == 0 {
		t.Error("the server's own ConnState hook was dropped")
	}
}

func TestClientOf(t *testing.T) {
	for addr, want := range map[string]string{
		"127.0.0.1:80":              "127.0.0.1/32",
		"[::ffff:10.0.0.1]:80":      "10.0.0.1/32",
		"[2001:db8:1:2:3::4]:9848":  "2001:db8:1:2::/64",
		"[2001:db8:1:2:ffff::]:443": "2001:db8:1:2::/64",
	} {
		a, _ := net.ResolveTCPAddr("tcp", addr)
		got, ok := clientOf(a)
		if !ok || got.String() != want {
			t.Errorf("%s: %v %v, want %s", addr, got, ok, want)
		}
	}
	if _, ok := clientOf(&net.UnixAddr{Name: "/run/x.sock", Net: "unix"}); ok {
		t.Error("a Unix socket has a client")
	}
}
