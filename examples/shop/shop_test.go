package shop

import (
	"strings"
	"testing"
)

func TestDescribe(t *testing.T) {
	if got := Describe(7, "tea", 350); got != "tea costs 350" {
		t.Fatalf("Describe = %q", got)
	}
}

func TestAddress(t *testing.T) {
	if got := Address("localhost", 8080); got != "localhost:8080" {
		t.Fatalf("Address = %q", got)
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

func BenchmarkDescribe(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = Describe(i, "tea", 350)
	}
}
