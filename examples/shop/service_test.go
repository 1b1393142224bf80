package shop

import (
	"net/http/httptest"
	"testing"
)

func TestHandler(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler([]item{{Name: "tea"}, {Name: "coffee"}}).ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if got := rec.Body.String(); got != "tea\ncoffee" {
		t.Fatalf("body = %q", got)
	}
}

func BenchmarkHandler(b *testing.B) {
	items := make([]item, 200)
	for i := range items {
		items[i].Name = "tea"
	}
	h := Handler(items)
	req := httptest.NewRequest("GET", "/", nil)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
}
