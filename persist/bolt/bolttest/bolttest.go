// Package bolttest reads and damages the file of an embedded store (a
// bbolt file) below the store, for tests of what the store and the
// server make of a file that does not hold what was written.
package bolttest

import (
	"os"
	"testing"
	"time"

	"go.etcd.io/bbolt"
)

// Page is a page in use of a file, as bbolt describes it.
type Page struct {
	ID   int
	Type string // "meta", "freelist", "branch", "leaf", "free"
	Data []byte // the page's first page size bytes, as the file holds them
}

// Pages lists the pages in use of the bbolt file at path that bbolt
// reaches, with its page size and the id of its last transaction. The
// file must not be open elsewhere.
func Pages(t testing.TB, path string) (pages []Page, pageSize int, txid uint64) {
	t.Helper()
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{NoFreelistSync: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	pageSize = db.Info().PageSize
	err = db.View(func(tx *bbolt.Tx) error {
		txid = uint64(tx.ID())
		for id := 0; ; id++ {
			p, err := tx.Page(id)
			if err != nil {
				return err
			}
			if p == nil {
				return nil
			}
			pages = append(pages, Page{ID: id, Type: p.Type, Data: raw[id*pageSize : (id+1)*pageSize]})
			if p.Type != "free" { // a free page's header is stale
				id += p.OverflowCount
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return pages, pageSize, txid
}

// Damage overwrites the bytes of the file at path at off with b.
func Damage(t testing.TB, path string, off int, b []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteAt(b, int64(off)); err != nil {
		t.Fatal(err)
	}
}
