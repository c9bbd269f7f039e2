package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// runHealth is "auth-server health": it asks the server listening at
// -addr (AUTH_ADDR, as the server reads it) for GET /healthz and exits 0
// if it answers 200 within -timeout, 1 if it does not. It is the image's
// HEALTHCHECK: a container has no shell and no curl, only this binary.
//
// An address without a host (":4000"), or with an unspecified one
// ("0.0.0.0:4000", "[::]:4000"), is asked at 127.0.0.1. With
// -tls-cert set (AUTH_TLS_CERT), it speaks HTTPS and does not verify the
// certificate: it asks whether this server answers, not whom to trust.
func runHealth(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fs := subcommandFlags("health", stderr,
		"usage: auth-server health [-addr ADDR] [-timeout D]",
		"Asks the server at ADDR for /healthz. Exit status: 0 if it answers 200 in time, 1 if not, 2 on bad arguments.")
	addr := fs.String("addr", envOr(getenv, "AUTH_ADDR", ":4000"), "the server's listen address (env AUTH_ADDR)")
	useTLS := fs.Bool("tls", getenv("AUTH_TLS_CERT") != "", "speak HTTPS, without verifying the certificate (default: whether AUTH_TLS_CERT is set)")
	timeout := fs.Duration("timeout", 2*time.Second, "how long the server has to answer")
	if !parseFlags(fs, args, stderr) {
		return exitCannotRun
	}
	target, err := healthURL(*addr, *useTLS)
	if err != nil {
		fmt.Fprintf(stderr, "auth-server health: -addr: %v\n", err)
		return exitCannotRun
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	tr := &http.Transport{
		Proxy:             nil, // never through a proxy of the environment
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // the liveness of our own server, not trust
	}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		fmt.Fprintf(stderr, "auth-server health: %v\n", err)
		return exitCannotRun
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "auth-server health: %s: %v\n", target, err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "auth-server health: %s: %s %s\n", target, resp.Status, body)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %s", target, body)
	if len(body) == 0 || body[len(body)-1] != '\n' {
		fmt.Fprintln(stdout)
	}
	return exitOK
}

// healthURL is the /healthz URL of a server listening at addr.
func healthURL(addr string, useTLS bool) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// Go listens on both IPv4 and IPv6 for either spelling.
		host = "127.0.0.1"
	}
	scheme := "http"
	if useTLS {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port) + "/healthz", nil
}
