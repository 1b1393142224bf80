package p

// Table is 512 bytes: its size, not its exported name, is what blocks returning it by value.
type Table struct {
	cells [64]int64
}

// NewTable returns an empty table.
func NewTable() *Table {
	return &Table{}
}

// Lookup returns nil for an empty name: a struct value cannot be nil, whatever the flags.
func Lookup(name string) *Decoder {
	if name == "" {
		return nil
	}
	return &Decoder{depth: len(name)}
}
