package serve

import (
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestReloader(t *testing.T) {
	var logs strings.Builder
	r := NewReloader("prog", slog.New(slog.NewTextHandler(&logs, nil)))
	prometheus.NewPedanticRegistry().MustRegister(r)
	bad := func() ([]any, error) { return nil, errors.New(`line 3: unknown key "bogus"`) }
	good := func() ([]any, error) { return []any{"sources", 2}, nil }

	// A refused first load is the caller's to report: nothing logged.
	if err := r.Apply(bad); err == nil || r.Loaded() {
		t.Fatalf("bad first load: %v, loaded %v", err, r.Loaded())
	}
	if logs.Len() != 0 || testutil.ToFloat64(r.success) != 0 {
		t.Fatalf("after a refused first load: logs %q, success %v", logs.String(), testutil.ToFloat64(r.success))
	}
	if err := r.Apply(good); err != nil || !r.Loaded() {
		t.Fatalf("good load: %v", err)
	}
	if !strings.Contains(logs.String(), `msg="config loaded" sources=2`) || testutil.ToFloat64(r.success) != 1 || testutil.ToFloat64(r.successTime) == 0 {
		t.Fatalf("after a good load: logs %q, success %v", logs.String(), testutil.ToFloat64(r.success))
	}
	if err := r.Apply(bad); err == nil || !r.Loaded() {
		t.Fatal("a refused reload must keep the loaded state")
	}
	if testutil.ToFloat64(r.success) != 0 {
		t.Error("the success gauge stays 1 after a refusal")
	}
	if !strings.Contains(logs.String(), "config reload refused; the old config keeps running") || !strings.Contains(logs.String(), "bogus") {
		t.Errorf("the refusal is not logged: %q", logs.String())
	}
	if err := r.Apply(good); err != nil || !strings.Contains(logs.String(), `msg="config reloaded" sources=2`) {
		t.Errorf("reload: %v, logs %q", err, logs.String())
	}
}

func TestReloaderHandler(t *testing.T) {
	r := NewReloader("prog", slog.New(slog.DiscardHandler))
	var mu sync.Mutex
	fail := false
	h := r.Handler(func() ([]any, error) {
		mu.Lock()
		defer mu.Unlock()
		if fail {
			return nil, errors.New(`unknown key "bogus"`)
		}
		return nil, nil
	})
	do := func(method string) *httptest.ResponseRecorder {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(method, "/-/reload", nil))
		return w
	}
	if w := do(http.MethodGet); w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != http.MethodPost {
		t.Errorf("GET: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	if w := do(http.MethodPost); w.Code != http.StatusOK || w.Body.String() != "config reloaded\n" {
		t.Errorf("good POST: %d %q", w.Code, w.Body.String())
	}
	mu.Lock()
	fail = true
	mu.Unlock()
	if w := do(http.MethodPost); w.Code != http.StatusInternalServerError || !strings.Contains(w.Body.String(), "bogus") {
		t.Errorf("bad POST: %d %q", w.Code, w.Body.String())
	}
}

// TestReloadRefusesCrossOrigin: a browser on another site cannot make the
// program reload, whatever the content type; programs without browser
// headers, and same-origin pages, can.
func TestReloadRefusesCrossOrigin(t *testing.T) {
	r := NewReloader("prog", slog.New(slog.DiscardHandler))
	loads := 0
	srv := httptest.NewServer(r.Handler(func() ([]any, error) { loads++; return nil, nil }))
	defer srv.Close()
	post := func(headers map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/-/reload", strings.NewReader("x"))
		req.Header.Set("Content-Type", "text/plain")
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "same-site"},
		{"Origin": "https://evil.example"},
	} {
		if got := post(h); got != http.StatusForbidden {
			t.Errorf("%v: HTTP %d, want 403", h, got)
		}
	}
	if loads != 0 {
		t.Fatalf("%d loads from refused requests", loads)
	}
	for _, h := range []map[string]string{nil, {"Sec-Fetch-Site": "same-origin"}, {"Sec-Fetch-Site": "none"}} {
		if got := post(h); got != http.StatusOK {
			t.Errorf("%v: HTTP %d, want 200", h, got)
		}
	}
}
