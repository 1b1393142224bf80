// Command shopd prints a few catalogue lines.
package main

import (
	"fmt"
	"os"

	"example.com/goescape-examples/shop"
)

type config struct {
	Host string
	Port int
}

// loadConfig is in package main, so return-value may change it although it is exported-looking.
func loadConfig() *config {
	return &config{Host: "localhost", Port: 8080}
}

func main() {
	cfg := loadConfig()
	fmt.Println(shop.Address(cfg.Host, cfg.Port))
	fmt.Println(shop.Describe(1, "tea", 350))
	if err := shop.WriteName(os.Stdout, "coffee\n"); err != nil {
		os.Exit(1)
	}
}
