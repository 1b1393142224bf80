package shop

import (
	"net/http"
	"strings"
)

// Handler serves the catalogue, one item name per line: the hot path of this small service,
// which BenchmarkHandler drives and profile.sh profiles.
func Handler(items []item) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte(strings.Join(Names(items), "\n")))
	})
}
