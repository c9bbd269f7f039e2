package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"auth/bus"
)

// busConfig is the NATS side of the configuration: where, under which
// subjects, with which credentials, and the cluster secret that signs
// every message.
type busConfig struct {
	url        string
	subject    string
	converge   time.Duration
	creds      string // NATS credentials file (JWT and nkey seed)
	nkey       string // NATS nkey seed file
	ca         string // CA file for the NATS server's certificate
	cert, key  string // client certificate and key files for NATS TLS
	secret     string // comma-separated cluster secrets; the first signs
	secretFile string
	insecure   bool
}

func (b *busConfig) flags(fs *flag.FlagSet, getenv func(string) string) {
	env := func(name, def string) string { return envOr(getenv, name, def) }
	def := bus.DefaultConfig("")
	fs.StringVar(&b.url, "nats-url", getenv("NATS_URL"), "NATS server URL(s), comma-separated, to run as one of several replicas; needs MongoDB (env NATS_URL)")
	fs.StringVar(&b.subject, "nats-subject", env("AUTH_NATS_SUBJECT", def.Subject), "prefix of the NATS subjects this deployment uses; deployments sharing a NATS server need different ones (env AUTH_NATS_SUBJECT)")
	fs.DurationVar(&b.converge, "converge-within", def.Converge, "with a bus, the bound on how long a replica stays behind the store on any tenant, whatever messages were lost (it compares every tenant's head with the store's every half of it)")
	fs.StringVar(&b.creds, "nats-creds", getenv("NATS_CREDS"), "NATS credentials file (user JWT and nkey seed) (env NATS_CREDS)")
	fs.StringVar(&b.nkey, "nats-nkey", getenv("NATS_NKEY"), "NATS nkey seed file (env NATS_NKEY)")
	fs.StringVar(&b.ca, "nats-ca", getenv("NATS_CA"), "CA certificate file to verify the NATS server's TLS certificate (env NATS_CA)")
	fs.StringVar(&b.cert, "nats-cert", getenv("NATS_CERT"), "client certificate file for TLS to NATS (env NATS_CERT)")
	fs.StringVar(&b.key, "nats-key", getenv("NATS_KEY"), "client key file for TLS to NATS (env NATS_KEY)")
	fs.StringVar(&b.secret, "cluster-secret", getenv("AUTH_CLUSTER_SECRET"), "secret every replica signs and verifies bus messages with (HMAC-SHA256), at least 16 bytes; several, comma-separated, to rotate: the first signs, any verifies. Prefer the environment (AUTH_CLUSTER_SECRET) or -cluster-secret-file, which stay out of the process list")
	fs.StringVar(&b.secretFile, "cluster-secret-file", getenv("AUTH_CLUSTER_SECRET_FILE"), "file holding the cluster secret(s), one a line (env AUTH_CLUSTER_SECRET_FILE)")
	fs.BoolVar(&b.insecure, "insecure-bus", false, "run a bus without a cluster secret: anyone who can publish on the NATS server can then forge events")
}

// validate checks what can be checked before anything starts.
func (b *busConfig) validate() error {
	if b.url == "" {
		return nil
	}
	if b.secret != "" && b.secretFile != "" {
		return errors.New("-cluster-secret and -cluster-secret-file: give one")
	}
	if b.secret == "" && b.secretFile == "" && !b.insecure {
		return errors.New("-nats-url needs a cluster secret (AUTH_CLUSTER_SECRET, -cluster-secret-file or -cluster-secret) so that bus messages cannot be forged; or -insecure-bus to run without one")
	}
	if (b.cert == "") != (b.key == "") {
		return errors.New("-nats-cert and -nats-key go together")
	}
	if b.creds != "" && b.nkey != "" {
		return errors.New("-nats-creds and -nats-nkey: give one")
	}
	return nil
}

// secrets returns the cluster secrets, from the flag or the file.
func (b *busConfig) secrets() ([][]byte, error) {
	raw := b.secret
	sep := ","
	if b.secretFile != "" {
		data, err := os.ReadFile(b.secretFile)
		if err != nil {
			return nil, fmt.Errorf("-cluster-secret-file: %w", err)
		}
		raw, sep = string(data), "\n"
	}
	var out [][]byte
	for _, s := range strings.Split(raw, sep) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, []byte(s))
		}
	}
	return out, nil
}

// config builds the bus's configuration. Nothing secret is logged: the
// log line names which kinds of credentials are in use, never their
// values or paths' contents.
func (b *busConfig) config(log *slog.Logger) (bus.Config, error) {
	c := bus.DefaultConfig(b.url)
	c.Logger = log
	c.Subject = b.subject
	c.Converge = b.converge
	secrets, err := b.secrets()
	if err != nil {
		return c, err
	}
	c.Secrets = secrets
	c.Unsigned = b.insecure && len(secrets) == 0
	var auth []string
	if b.creds != "" {
		c.Options = append(c.Options, nats.UserCredentials(b.creds))
		auth = append(auth, "credentials file")
	}
	if b.nkey != "" {
		opt, err := nats.NkeyOptionFromSeed(b.nkey)
		if err != nil {
			return c, fmt.Errorf("-nats-nkey: %w", err)
		}
		c.Options = append(c.Options, opt)
		auth = append(auth, "nkey")
	}
	if b.ca != "" {
		c.Options = append(c.Options, nats.RootCAs(b.ca))
		auth = append(auth, "TLS CA")
	}
	if b.cert != "" {
		c.Options = append(c.Options, nats.ClientCert(b.cert, b.key))
		auth = append(auth, "TLS client certificate")
	}
	if c.Unsigned {
		log.Warn("bus: running WITHOUT a cluster secret (-insecure-bus): anyone who can publish on the NATS server can forge events")
	}
	log.Info("bus configured", "subject", c.Subject, "signed", len(secrets) > 0, "secrets", len(secrets), "nats_auth", strings.Join(auth, ", "), "converge_within", c.Converge)
	return c, c.Validate()
}
