package serve

import "net/http"

// Healthy answers /-/healthy: the process is up and serving HTTP.
var Healthy http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = w.Write([]byte("Healthy.\n"))
})
