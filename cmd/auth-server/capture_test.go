package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

// captureNATS records every message on the server, subject and payload,
// and returns a function giving what was recorded so far.
func captureNATS(t *testing.T, url string) func() [][]byte {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	var (
		mu  sync.Mutex
		got [][]byte
	)
	if _, err := nc.Subscribe(">", func(m *nats.Msg) {
		mu.Lock()
		got = append(got, append([]byte(m.Subject+" "), m.Data...))
		mu.Unlock()
	}); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return func() [][]byte {
		nc.Flush()
		mu.Lock()
		defer mu.Unlock()
		return append([][]byte(nil), got...)
	}
}

// mongoDocuments returns every document of every collection of database
// db, as BSON.
func mongoDocuments(t *testing.T, uri, db string) [][]byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatal(err)
	}
	defer client.Disconnect(ctx)
	names, err := client.Database(db).ListCollectionNames(ctx, bson.D{})
	if err != nil {
		t.Fatal(err)
	}
	var docs [][]byte
	for _, name := range names {
		cur, err := client.Database(db).Collection(name).Find(ctx, bson.D{})
		if err != nil {
			t.Fatal(err)
		}
		for cur.Next(ctx) {
			docs = append(docs, append([]byte(name+" "), cur.Current...))
		}
		if err := cur.Err(); err != nil {
			t.Fatal(err)
		}
		cur.Close(ctx)
	}
	return docs
}
