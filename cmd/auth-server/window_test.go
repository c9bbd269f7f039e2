package main

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestWindowGraceFlag: the sweep's grace is 24h by default and never
// negative (a negative one would sweep memberships before their end).
func TestWindowGraceFlag(t *testing.T) {
	noEnv := func(string) string { return "" }
	c, err := parseConfig(nil, noEnv, io.Discard)
	if err != nil || c.windowGrace != 24*time.Hour {
		t.Fatalf("default: %v, %v", c.windowGrace, err)
	}
	if c, err := parseConfig([]string{"-window-grace", "1h"}, noEnv, io.Discard); err != nil || c.windowGrace != time.Hour {
		t.Fatalf("-window-grace 1h: %v, %v", c.windowGrace, err)
	}
	if _, err := parseConfig([]string{"-window-grace", "-1h"}, noEnv, io.Discard); err == nil || !strings.Contains(err.Error(), "-window-grace") {
		t.Fatalf("-window-grace -1h: %v", err)
	}
}
