module example.com/goescape-examples

go 1.22
