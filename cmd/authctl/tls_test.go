package main

import (
	"crypto/tls"
	"strings"
	"testing"

	"auth/client/clienttest"
	"auth/internal/tlstest"
)

// TestTLS: against an https:// server of a private CA that requires client
// certificates, authctl works with AUTH_CA, AUTH_CLIENT_CERT and
// AUTH_CLIENT_KEY (or the flags), and fails, saying why, without them.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "server CA")
	clientCA := tlstest.NewCA(t, "client CA")
	srv := clienttest.New(t)
	u, err := srv.ServeTLS(&tls.Config{
		Certificates: []tls.Certificate{ca.Issue(t, "auth", tlstest.Options{}).TLS(t)},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    clientCA.Pool(),
	})
	if err != nil {
		t.Fatal(err)
	}
	caFile := ca.WriteCert(t, dir, "ca.pem")
	clientPair := clientCA.Issue(t, "ops", tlstest.Options{Client: true})
	certFile, keyFile := clientPair.Write(t, dir, "ops")

	e := &tenv{t: t, url: u, env: map[string]string{"AUTH_KEY": testKey, "AUTH_URL": u,
		"AUTH_CA": caFile, "AUTH_CLIENT_CERT": certFile, "AUTH_CLIENT_KEY": keyFile}}
	e.expect(0, "role cookers: created (seq 1)\n", "role", "add", "cookers")
	e.expect(0, "cookers\n", "role", "list")
	e.expect(0, "PONG\n", "ping")

	// The flags instead of the environment.
	e.env = map[string]string{"AUTH_KEY": testKey}
	e.expect(0, "yes\n", "-url", u, "-ca", caFile, "-client-cert", certFile, "-client-key", keyFile, "role", "has", "cookers")

	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"no CA", map[string]string{"AUTH_CLIENT_CERT": certFile, "AUTH_CLIENT_KEY": keyFile}, "certificate signed by unknown authority"},
		{"no client certificate", map[string]string{"AUTH_CA": caFile}, "certificate required"},
		{"certificate without key", map[string]string{"AUTH_CA": caFile, "AUTH_CLIENT_CERT": certFile}, "needs both"},
		{"missing CA file", map[string]string{"AUTH_CA": dir + "/none.pem"}, "no such file"},
	} {
		e.env = map[string]string{"AUTH_KEY": testKey, "AUTH_URL": u}
		for k, v := range c.env {
			e.env[k] = v
		}
		r := e.run("ping")
		if r.code != exitError || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: exit %d, stderr %q; want %d and a message saying %q", c.name, r.code, r.stderr, exitError, c.want)
		}
		for _, m := range clientPair.KeyMaterial() {
			if strings.Contains(r.stderr+r.stdout, m) {
				t.Errorf("%s: the output holds the client's private key", c.name)
			}
		}
	}
}
