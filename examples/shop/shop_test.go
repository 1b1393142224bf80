package shop

import (
	"strings"
	"sync"
	"testing"
)

func TestDescribe(t *testing.T) {
	if got := Describe(7, "tea", 350); got != "tea costs 350" {
		t.Fatalf("Describe = %q", got)
	}
}

func TestAddress(t *testing.T) {
	for _, c := range []struct {
		host string
		port int
		want string
	}{
		{"localhost", 8080, "localhost:8080"},
		{"::1", 443, "::1:443"},
	} {
		if got := Address(c.host, c.port); got != c.want {
			t.Fatalf("Address(%q, %d) = %q, want %q", c.host, c.port, got, c.want)
		}
	}
}

func TestWriteName(t *testing.T) {
	var b strings.Builder
	if err := WriteName(&b, "tea"); err != nil || b.String() != "tea" {
		t.Fatalf("WriteName wrote %q, %v", b.String(), err)
	}
}

func TestTotal(t *testing.T) {
	if got := Total(1250); got != "total 12.50" {
		t.Fatalf("Total = %q", got)
	}
}

func TestCount(t *testing.T) {
	if got := Count(3); got != 3 {
		t.Fatalf("Count = %d", got)
	}
}

func TestShelf(t *testing.T) {
	if got := Shelf("B", 12); got != "B-12" {
		t.Fatalf("Shelf = %q", got)
	}
}

func TestNames(t *testing.T) {
	got := Names([]item{{Name: "tea"}, {Name: "coffee"}})
	if len(got) != 2 || got[0] != "tea" || got[1] != "coffee" {
		t.Fatalf("Names = %q", got)
	}
	if got := Names(nil); got == nil || len(got) != 0 {
		t.Fatalf("Names(nil) = %#v, want an empty non-nil slice", got)
	}
}

func TestRestock(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	Restock([]string{"A", "B", "C"}, func(s string) {
		mu.Lock()
		seen[s]++
		mu.Unlock()
	})
	if len(seen) != 3 || seen["A"] != 1 || seen["B"] != 1 || seen["C"] != 1 {
		t.Fatalf("Restock filled %v", seen)
	}
}

func BenchmarkNames(b *testing.B) {
	items := make([]item, 100)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Names(items)
	}
}

func BenchmarkDescribe(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Describe(i, "tea", 350)
	}
}

var (
	aisles = []string{"A", "B", "C", "D"}
	label  string // kept, as a caller keeps the label it asked for
)

func BenchmarkShelf(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		label = Shelf(aisles[i%len(aisles)], uint8(i))
	}
}
