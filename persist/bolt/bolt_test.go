package bolt_test

import (
	"testing"

	"auth/persist"
	"auth/persist/bolt"
	"auth/persist/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		New: func(t *testing.T) func() persist.Store {
			dir := t.TempDir()
			return func() persist.Store {
				s, err := bolt.Open(bolt.DefaultConfig(dir))
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				return s
			}
		},
	})
}
