package main

import (
	"io"
	"testing"
)

// TestUIFlag: the console is on by default and -ui=false turns it off.
func TestUIFlag(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := parseConfig(nil, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.http.UI == nil {
		t.Error("the console is off by default")
	}
	c, err = parseConfig([]string{"-ui=false"}, noEnv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.http.UI != nil {
		t.Error("-ui=false leaves the console on")
	}
}
