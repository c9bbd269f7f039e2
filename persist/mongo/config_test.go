package mongo_test

import (
	"strings"
	"testing"
	"time"

	"auth/persist/mongo"
)

func TestConfig(t *testing.T) {
	c := mongo.DefaultConfig("mongodb://localhost:27017/")
	if c.Database != "auth" || c.WriteConcern != "majority" || c.Timeout != 3*time.Second || c.KeepEvents != 0 ||
		c.MaxInlineEvent != 1<<20 {
		t.Fatalf("defaults: %+v", c)
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, edit := range map[string]func(*mongo.Config){
		"no URI":      func(c *mongo.Config) { c.URI = "" },
		"http URI":    func(c *mongo.Config) { c.URI = "http://localhost" },
		"no database": func(c *mongo.Config) { c.Database = "" },
		"dotted db":   func(c *mongo.Config) { c.Database = "a.b" },
		"long db":     func(c *mongo.Config) { c.Database = strings.Repeat("a", 64) },
		"bad w":       func(c *mongo.Config) { c.WriteConcern = "all" },
		"w 0":         func(c *mongo.Config) { c.WriteConcern = "0" },
		"no timeout":  func(c *mongo.Config) { c.Timeout = 0 },
		"tiny chunks": func(c *mongo.Config) { c.ChunkSize = 10 },
		"huge chunks": func(c *mongo.Config) { c.ChunkSize = 16 << 20 },
		"huge inline": func(c *mongo.Config) { c.MaxInlineEvent = 16 << 20 },
		"neg inline":  func(c *mongo.Config) { c.MaxInlineEvent = -1 },
	} {
		c := mongo.DefaultConfig("mongodb://localhost/")
		edit(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	c.WriteConcern = "1"
	if err := c.Validate(); err != nil {
		t.Fatalf("w 1: %v", err)
	}
}

func TestURIFromHostPort(t *testing.T) {
	for _, c := range []struct{ host, port, want string }{
		{"", "", "mongodb://localhost:27017/"},
		{"db", "", "mongodb://db:27017/"},
		{"db.internal", "27018", "mongodb://db.internal:27018/"},
		{"::1", "27017", "mongodb://[::1]:27017/"},
		{"[::1]", "1", "mongodb://[::1]:1/"},
	} {
		if got := mongo.URIFromHostPort(c.host, c.port); got != c.want {
			t.Errorf("URIFromHostPort(%q, %q) = %q, want %q", c.host, c.port, got, c.want)
		}
	}
}

func TestRedacted(t *testing.T) {
	for in, want := range map[string]string{
		"mongodb://localhost:27017/":                                             "mongodb://localhost:27017/",
		"mongodb://user:s3cret@h1:1,h2:2/auth?replicaSet=x":                      "mongodb://user:xxxxx@h1:1,h2:2/auth?replicaSet=x",
		"mongodb://user@host/":                                                   "mongodb://user@host/",
		"mongodb://u:p%40ss@host":                                                "mongodb://u:xxxxx@host",
		"mongodb+srv://u:p@cluster.example/?tlsCertificateKeyFilePassword=k&w=1": "mongodb+srv://u:xxxxx@cluster.example/?tlsCertificateKeyFilePassword=xxxxx&w=1",
		"mongodb://h/?authMechanismProperties=AWS_SESSION_TOKEN:abc":             "mongodb://h/?authMechanismProperties=xxxxx",
		"user:pw@host": "xxxxx",
	} {
		if got := mongo.Redacted(in); got != want {
			t.Errorf("Redacted(%q) = %q, want %q", in, got, want)
		}
	}
}
