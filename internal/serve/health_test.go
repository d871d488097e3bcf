package serve

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestHealthy(t *testing.T) {
	w := httptest.NewRecorder()
	Healthy.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/-/healthy", nil))
	if w.Code != http.StatusOK || w.Body.String() != "Healthy.\n" || w.Header().Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("got %d %q %q", w.Code, w.Body.String(), w.Header().Get("Content-Type"))
	}
}
