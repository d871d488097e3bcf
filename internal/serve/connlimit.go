package serve

import (
	"net"
	"net/http"
	"net/netip"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// ConnLimiter caps the connections one client holds open on a server: a
// client is an IPv4 address or an IPv6 /64. Connections over the cap are
// closed as soon as they are accepted, so one client cannot take every
// in-flight slot, or memory, with connections it never reads from or
// writes slowly to.
type ConnLimiter struct {
	max      int
	mu       sync.Mutex
	byClient map[netip.Prefix]int
	open     map[net.Conn]netip.Prefix
	refused  prometheus.Counter
}

// LimitConnsPerClient installs a ConnLimiter of max connections per client
// on srv, keeping any ConnState hook srv has. program names its counter,
// <program>_http_connections_refused_total. max <= 0 installs nothing and
// returns nil.
func LimitConnsPerClient(srv *http.Server, program string, max int) *ConnLimiter {
	if max <= 0 {
		return nil
	}
	l := &ConnLimiter{
		max:      max,
		byClient: map[netip.Prefix]int{},
		open:     map[net.Conn]netip.Prefix{},
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: program + "_http_connections_refused_total",
			Help: "Connections closed on accept because their client already held the most connections allowed (--web.max-connections-per-client).",
		}),
	}
	next := srv.ConnState
	srv.ConnState = func(c net.Conn, s http.ConnState) {
		l.track(c, s)
		if next != nil {
			next(c, s)
		}
	}
	return l
}

// clientOf is the client a remote address belongs to; ok is false for
// addresses that are not IP (a Unix socket), which are not limited.
func clientOf(addr net.Addr) (netip.Prefix, bool) {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{}, false
	}
	ip := ap.Addr().Unmap()
	bits := 32
	if ip.Is6() {
		bits = 64 // one host usually holds a whole /64
	}
	p, err := ip.Prefix(bits)
	return p, err == nil
}

func (l *ConnLimiter) track(c net.Conn, s http.ConnState) {
	switch s {
	case http.StateNew:
		client, ok := clientOf(c.RemoteAddr())
		if !ok {
			return
		}
		l.mu.Lock()
		full := l.byClient[client] >= l.max
		if !full {
			l.byClient[client]++
			l.open[c] = client
		}
		l.mu.Unlock()
		if full {
			l.refused.Inc()
			// The server's read then fails at once and the connection ends.
			_ = c.Close()
		}
	case http.StateHijacked, http.StateClosed:
		l.mu.Lock()
		if client, ok := l.open[c]; ok {
			delete(l.open, c)
			if l.byClient[client]--; l.byClient[client] <= 0 {
				delete(l.byClient, client)
			}
		}
		l.mu.Unlock()
	}
}

// Describe implements prometheus.Collector.
func (l *ConnLimiter) Describe(ch chan<- *prometheus.Desc) { l.refused.Describe(ch) }

// Collect implements prometheus.Collector.
func (l *ConnLimiter) Collect(ch chan<- prometheus.Metric) { l.refused.Collect(ch) }
