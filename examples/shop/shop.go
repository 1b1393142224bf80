// Package shop is a small catalogue that shows each goescape codemod at work.
package shop

import (
	"fmt"
	"io"
	"strings"
	"sync"
)

type item struct {
	SKU   int
	Name  string
	Price int
}

// newItem returns a pointer to a local: the item is moved to the heap (return-value fixes it).
// It tidies the name, too much for the inliner, so each call allocates.
func newItem(sku int, name string, price int) *item {
	it := item{SKU: sku, Name: strings.ToLower(strings.TrimSpace(name)), Price: max(price, 0)}
	return &it
}

// Describe formats an item for a listing.
func Describe(sku int, name string, price int) string {
	it := newItem(sku, name, price)
	return it.Name + " costs " + fmt.Sprint(it.Price)
}

// Address joins a host and a port: both are boxed into interfaces by Sprintf (sprint fixes it).
func Address(host string, port int) string {
	return fmt.Sprintf("%s:%d", host, port)
}

// WriteName writes a name through Fprintf, which boxes it. io.WriteString would copy it into a
// []byte for a writer without a WriteString method, which calibration finds saves nothing.
func WriteName(w io.Writer, name string) error {
	_, err := fmt.Fprintf(w, "%s", name)
	return err
}

// Shelf labels a shelf. A uint8 is boxed without allocating on Go 1.25+, but the aisle is not:
// BenchmarkShelf measures what the concatenation sprint offers saves (TestShelf passes constants).
func Shelf(aisle string, n uint8) string {
	return fmt.Sprintf("%s-%d", aisle, n)
}

// Names lists the item names; the slice grows by doubling as it goes (prealloc sizes it once).
func Names(items []item) []string {
	names := []string{}
	for _, it := range items {
		names = append(names, it.Name)
	}
	return names
}

// Restock fills each shelf in its own goroutine. The closure reads the loop variable, which
// Go 1.22 gives each iteration: with go.mod at 1.22, closure-param has nothing to remove.
func Restock(shelves []string, fill func(string)) {
	var wg sync.WaitGroup
	for _, shelf := range shelves {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fill(shelf)
		}()
	}
	wg.Wait()
}

// Cents is a named type: Sprintf would call its String method, so sprint leaves it alone.
type Cents int

func (c Cents) String() string { return fmt.Sprintf("%d.%02d", int(c)/100, int(c)%100) }

// Total formats a price through its String method.
func Total(c Cents) string {
	return fmt.Sprintf("total %v", c)
}

type counter struct {
	mu sync.Mutex
	n  int
}

// newCounter holds a lock, so return-value must not copy it.
func newCounter() *counter {
	return &counter{}
}

// Count counts to n under the lock.
func Count(n int) int {
	c := newCounter()
	for i := 0; i < n; i++ {
		c.mu.Lock()
		c.n++
		c.mu.Unlock()
	}
	return c.n
}
